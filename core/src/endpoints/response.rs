//! A reply the filter sends itself instead of forwarding the request.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalResponse {
    pub status: u32,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl LocalResponse {
    pub fn json(status: u32, mut headers: Vec<(String, String)>, body: &serde_json::Value) -> Self {
        headers.push(("content-type".to_string(), "application/json".to_string()));
        headers.push(("cache-control".to_string(), "no-store".to_string()));
        LocalResponse { status, headers, body: body.to_string() }
    }
}

/// What becomes of a request to an endpoint the filter serves or fronts (issuer, Janus).
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// Answer it here.
    Respond(LocalResponse),
    /// Let it go to the OAuth server, with these headers removed, these set, and maybe a new
    /// body.
    Forward { remove: Vec<String>, set: Vec<(String, String)>, body: Option<Vec<u8>> },
}
