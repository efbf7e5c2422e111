//! A webhook receiver on loopback for tests of senders (`jwh send`, replays): one thread, HTTP/1.1, verifying each
//! delivery as the ingest function does.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::thread::JoinHandle;

use jwh_shared::signature::Verifier;

/// Starts a receiver that answers 202 to a delivery signed with `secret` and 401 to any other (its body two lines
/// of JSON-ish text, as a proxy might send), and stops after `requests`. Returns its webhook URL and a handle that
/// yields the (svix-id, status) of every request, in order.
pub fn start(secret: &str, requests: usize) -> (String, JoinHandle<Vec<(String, u16)>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/webhooks/junction",
        listener.local_addr().unwrap()
    );
    let verifier = Verifier::from_strs([secret]).unwrap();
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for stream in listener.incoming().take(requests) {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut headers = std::collections::HashMap::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                if let Some((k, v)) = line.split_once(": ") {
                    headers.insert(k.to_ascii_lowercase(), v.to_owned());
                }
            }
            let len: usize = headers["content-length"].parse().unwrap();
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let verified = verifier.verify_parts(
                &headers["svix-id"],
                &headers["svix-timestamp"],
                &headers["svix-signature"],
                &body,
                chrono::Utc::now().timestamp(),
            );
            let (status, text) = match verified {
                Ok(_) => (202, "{\"status\":\"accepted\"}"),
                Err(_) => (401, "{\"error\":\"invalid signature\"}\nsecond line"),
            };
            write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                text.len()
            )
            .unwrap();
            seen.push((headers["svix-id"].clone(), status));
        }
        seen
    });
    (url, handle)
}
