//! What an answer that comes while the body is still being sent means for
//! the body: go on only for a final answer that is no error and keeps the
//! connection.

use super::{Early, early};

#[test]
fn early_answers_are_judged_by_status_and_connection() {
    let rows: &[(&[u8], Early)] = &[
        (b"", Early::Nothing),
        (b"HTTP/1.1 200 OK\r\nContent-Le", Early::Nothing),
        (b"HTTP/1.1 100 Continue\r\n\r\n", Early::Nothing),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            Early::GoOn,
        ),
        (
            b"HTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 201 Created\r\n\r\n",
            Early::GoOn,
        ),
        (
            b"HTTP/1.1 302 Found\r\nConnection: keep-alive\r\n\r\n",
            Early::GoOn,
        ),
        (b"HTTP/1.1 200 OK\r\nConnection: Close\r\n\r\n", Early::Stop),
        (
            b"HTTP/1.1 200 OK\r\nConnection: x-trace, close\r\n\r\n",
            Early::Stop,
        ),
        (b"HTTP/1.0 200 OK\r\n\r\n", Early::Stop),
        (
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n",
            Early::GoOn,
        ),
        (b"HTTP/1.1 413 Payload Too Large\r\n\r\n", Early::Stop),
        (
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 401 Unauthorized\r\n\r\n",
            Early::Stop,
        ),
        (b"garbage\r\n\r\n", Early::Stop),
    ];
    for (answer, want) in rows {
        assert_eq!(
            &early(answer),
            want,
            "{:?}",
            String::from_utf8_lossy(answer)
        );
    }
    // No head end within the limit: more than any head may be.
    assert_eq!(early(&vec![b'a'; 70 * 1024]), Early::Stop);
}
