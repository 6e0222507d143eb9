// The e2e IdP: the certified npm `oidc-provider`, configured for the gateway tests.
// Usage: node server.mjs PORT ISSUER KID[,KID...]
// Signing keys are generated at start, one RSA key per kid; restarting with other kids is a
// key rotation. Every request is logged as "REQ <method> <path>" so tests can count fetches,
// and every answer as "ANSWERED <method> <path> <status>".
import Provider from 'oidc-provider';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';

console.log('STAGE modules loaded');
const [port, issuer, kids] = [Number(process.argv[2]), process.argv[3], (process.argv[4] || 'k1').split(',')];
const keys = kids.map((kid) => {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
});
console.log('STAGE keys generated');

// The gateway's own key for private_key_jwt (RFC 7523): the public half of the fixture ec256 key.
const fixtures = JSON.parse(readFileSync(new URL('../../test-harness/fixtures/keys/jwks.json', import.meta.url)));
const gatewayKey = fixtures.keys.find((k) => k.kid === 'ec256');

const provider = new Provider(issuer, {
  clients: [
    { client_id: 'gateway-jwt', grant_types: ['client_credentials'], redirect_uris: [], response_types: [],
      token_endpoint_auth_method: 'private_key_jwt', token_endpoint_auth_signing_alg: 'ES256',
      jwks: { keys: [gatewayKey] } },
    { client_id: 'gateway', client_secret: 'gateway-secret', grant_types: ['client_credentials'],
      redirect_uris: [], response_types: [], token_endpoint_auth_method: 'client_secret_basic' },
    { client_id: 'gateway-post', client_secret: 'gateway-post-secret', grant_types: ['client_credentials'],
      redirect_uris: [], response_types: [], token_endpoint_auth_method: 'client_secret_post' },
  ],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'urn:orders',
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => ({
        scope: 'orders:read orders:write',
        audience: resource,
        accessTokenFormat: resource === 'urn:opaque' ? 'opaque' : 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  scopes: ['orders:read', 'orders:write'],
  jwks: { keys },
});
provider.use(async (ctx, next) => {
  console.log(`REQ ${ctx.method} ${ctx.path}`);
  await next();
  console.log(`ANSWERED ${ctx.method} ${ctx.path} ${ctx.status}`);
});
provider.listen(port, '127.0.0.1', () => console.log(`READY ${issuer} on 127.0.0.1:${port} kids=${kids.join(',')}`));
