//! `vip identity cookies`: a cookies.txt with a malformed line, an expired
//! cookie and a cookie for another domain goes into a saved identity with
//! a verdict per line; exported as JSON and imported into a second
//! identity, the same cookies come back out as cookies.txt; a file in
//! neither format is refused and changes nothing.

use std::path::Path;

use crate::common::*;

fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = vip(dir, args);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_go_in_and_out_of_saved_identities() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The vault exists before the daemon starts (named identities need it).
    assert_eq!(run(d, &["vault", "init"]).0, 0);
    let listen = format!("127.0.0.1:{}", free_port());
    let args = serve_args(&listen);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let daemon = Daemon::start(d, &args, &[]).await;
    for name in ["alice", "bob"] {
        let made = run(d, &["identity", "create", name, "--direct"]);
        assert_eq!(made.0, 0, "{made:?}");
    }
    let txt = d.join("cookies.txt");
    std::fs::write(
        &txt,
        "# Netscape HTTP Cookie File\n\
         .example.com\tTRUE\t/\tTRUE\t4102444800\tsid\tabc\n\
         this line is broken\n\
         old.example.com\tFALSE\t/\tFALSE\t1000\tgone\tx\n\
         #HttpOnly_shop.example.org\tFALSE\t/cart\tFALSE\t0\tcart\t3\n",
    )
    .unwrap();
    let (code, out, err) = run(
        d,
        &[
            "identity",
            "cookies",
            "import",
            "alice",
            txt.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        out.contains("line 2: imported \"sid\" for \".example.com\""),
        "{out}"
    );
    assert!(
        out.contains("line 3: invalid: 1 tab-separated fields"),
        "{out}"
    );
    assert!(out.contains("line 4: expired, left out: \"gone\""), "{out}");
    assert!(
        out.contains("line 5: imported \"cart\" for \"shop.example.org\""),
        "{out}"
    );
    assert!(
        out.contains("netscape format: 2 imported, 1 expired, 1 invalid"),
        "{out}"
    );

    let json = d.join("alice.json");
    let exported = run(
        d,
        &[
            "identity",
            "cookies",
            "export",
            "alice",
            "--format",
            "json",
            "-o",
            json.to_str().unwrap(),
        ],
    );
    assert_eq!(exported.0, 0, "{exported:?}");
    let list: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["sid", "cart"]);
    let (code, out, _) = run(
        d,
        &[
            "identity",
            "cookies",
            "import",
            "bob",
            json.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("json format: 2 imported, 0 expired, 0 invalid"),
        "{out}"
    );
    let (_, back, _) = run(d, &["identity", "cookies", "export", "bob"]);
    let lines: Vec<&str> = back.lines().filter(|l| !l.starts_with("# ")).collect();
    assert_eq!(
        lines,
        [
            ".example.com\tTRUE\t/\tTRUE\t4102444800\tsid\tabc",
            "#HttpOnly_shop.example.org\tFALSE\t/cart\tFALSE\t0\tcart\t3",
        ]
    );

    // Neither format: refused, and alice keeps what she had.
    let junk = d.join("junk.txt");
    std::fs::write(&junk, "hello\nworld\n").unwrap();
    let (code, _, err) = run(
        d,
        &[
            "identity",
            "cookies",
            "import",
            "alice",
            junk.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a cookie file"), "{err}");
    let (_, still, _) = run(d, &["identity", "cookies", "export", "alice"]);
    assert_eq!(
        still.lines().filter(|l| !l.starts_with("# ")).count(),
        2,
        "{still}"
    );
    let (code, _, err) = run(d, &["identity", "cookies", "export", "nobody"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("identity nobody does not exist"), "{err}");
    let (status, log) = daemon.stop().await;
    assert!(status.success(), "{log}");
}
