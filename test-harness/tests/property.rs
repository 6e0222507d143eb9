//! Thousands of generated malformed headers, tokens and IdP answers through the .wasm: no
//! trap, and only the documented statuses (never a pass for what must be refused).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use serde_json::json;
use test_harness::{Host, Outcome, Request};

const NOW: u64 = 1_800_000_000;

/// A small deterministic generator (xorshift), so failures reproduce.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn bytes(&mut self, max: u64) -> Vec<u8> {
        let alphabet: &[u8] = b"aZ09-_.=+/ \t\"'\\{}[]:,%\r\n\0\x7f\xff\xfe\xc3\xa9eyJhbGciOiJ";
        let len = self.below(max);
        (0..len).map(|_| alphabet[self.below(alphabet.len() as u64) as usize]).collect()
    }
    fn token(&mut self) -> Vec<u8> {
        let parts = self.below(6);
        let mut t = Vec::new();
        for i in 0..parts {
            if i > 0 {
                t.push(b'.');
            }
            t.extend(self.bytes(80));
        }
        t
    }
}

#[test]
fn generated_tokens_and_headers_never_trap_nor_pass() {
    let cfg = json!({"oauth_servers": {"s": {"token_strategy": {"name": "jwt", "settings": {"secret": "hs-secret-for-tests"}}}},
        "policies": {"p": {"oauth_server": "s", "token_sources": [{"header": "authorization", "prefix": "Bearer "}, {"query": "t"}, {"cookie": "t"}]}},
        "default_policy": "p"}).to_string();
    let mut vm = Host::at(NOW).vm(&cfg).unwrap_or_else(|vm| panic!("{}", vm.log_text()));
    let mut g = Gen(0x5eed_1234_abcd_ef01);
    for i in 0..3000 {
        let mut req = Request::get(&format!("/x?t={}", String::from_utf8_lossy(&g.bytes(20))));
        for _ in 0..g.below(4) {
            let name = ["authorization", "cookie", "x-credential-sub", "host"][g.below(4) as usize];
            let mut value = if g.below(2) == 0 { b"Bearer ".to_vec() } else { Vec::new() };
            value.extend(g.token());
            req = req.header(name, value);
        }
        let out = vm.send(req);
        assert!(matches!(out.status(), 400 | 401), "case {i}: {out:?}");
    }
}

#[test]
fn generated_introspection_answers_never_trap_nor_pass() {
    let cfg = json!({"oauth_servers": {"i": {"token_strategy": {"name": "introspection", "settings": {
        "introspection_url": "http://idp.test/introspect", "cluster": "idp"}}}},
        "policies": {"p": {"oauth_server": "i"}}, "default_policy": "p"}).to_string();
    let mut vm = Host::at(NOW).vm(&cfg).unwrap_or_else(|vm| panic!("{}", vm.log_text()));
    let mut g = Gen(0xfeed_beef_0042_0017);
    let shapes = [
        |g: &mut Gen| g.bytes(200),
        |_: &mut Gen| br#"{"active": "true"}"#.to_vec(),
        |_: &mut Gen| br#"{"active": 1}"#.to_vec(),
        |_: &mut Gen| br#"[{"active": true}]"#.to_vec(),
        |g: &mut Gen| { let mut b = br#"{"active": true, "exp": "#.to_vec(); b.extend(g.bytes(10)); b },
        |_: &mut Gen| br#"{"active": true, "exp": 1}"#.to_vec(),
        |_: &mut Gen| br#"{"active": false}"#.to_vec(),
    ];
    for i in 0..600 {
        let token = format!("opaque-{i}");
        let out = vm.send(Request::get("/").bearer(&token));
        let Outcome::Paused { context } = out else { panic!("case {i}: {out:?}") };
        let call = vm.pending_calls()[0].token;
        let shape = g.below(shapes.len() as u64) as usize;
        let body = shapes[shape](&mut g);
        let status = [200u16, 200, 200, 500, 0][g.below(5) as usize];
        if status == 0 {
            // No answer: the one retry fails too.
            vm.fail_call(call);
            let retry = vm.pending_calls()[0].token;
            vm.fail_call(retry);
        } else {
            vm.answer(call, status, &[], &body);
        }
        let out = vm.poll(context);
        assert!(matches!(out.status(), 401 | 503), "case {i} (shape {shape}, status {status}): {out:?}");
    }
}
