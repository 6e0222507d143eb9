// A DPoP client made of the npm `dpop` package (not the filter's code): it gets a DPoP-bound
// access token from the e2e IdP (client credentials with a proof), then proofs for requests.
// Usage: node dpop-client.mjs IDP_PORT ALG "METHOD URL" ...
// Prints {token, token_type, jkt, proofs: [one per "METHOD URL"], foreign: a proof by another key}.
import http from 'node:http';
import { generateKeyPair, generateProof, calculateThumbprint } from 'dpop';

const [idpPort, alg, ...requests] = process.argv.slice(2);
const keypair = await generateKeyPair(alg);

function post(path, body, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: Number(idpPort), path, method: 'POST',
      headers: { host: 'idp.test', 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body), ...headers } },
    (res) => {
      let data = '';
      res.on('data', (c) => { data += c; });
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(data)) : reject(new Error(`${res.statusCode} ${data}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const basic = Buffer.from('gateway:gateway-secret').toString('base64');
const grant = await post('/token', 'grant_type=client_credentials&scope=orders%3Aread',
  { authorization: `Basic ${basic}`, dpop: await generateProof(keypair, 'http://idp.test/token', 'POST') });
const proofs = [];
for (const spec of requests) {
  const [method, url] = spec.split(' ');
  proofs.push(await generateProof(keypair, url, method, undefined, grant.access_token));
}
const [method, url] = requests[0].split(' ');
const foreign = await generateProof(await generateKeyPair(alg), url, method, undefined, grant.access_token);
console.log(JSON.stringify({ token: grant.access_token, token_type: grant.token_type, jkt: await calculateThumbprint(keypair.publicKey), proofs, foreign }));
