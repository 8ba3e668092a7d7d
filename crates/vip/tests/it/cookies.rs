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

/// `vip identity export` on one machine, `vip identity import` on another
/// with a different master password: refused with the wrong password and
/// when cut short (nothing stored), restored exactly with the exporting
/// machine's password; a taken name is refused, `--as` renames.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sealed_identity_moves_to_another_machine_exactly() {
    use vip_store::vault::{Secret, Vault};
    let here = tempfile::tempdir().unwrap();
    let there = tempfile::tempdir().unwrap();
    assert_eq!(run(here.path(), &["vault", "init"]).0, 0);
    let listen = format!("127.0.0.1:{}", free_port());
    let args = serve_args(&listen);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let daemon = Daemon::start(here.path(), &args, &[]).await;
    let made = run(
        here.path(),
        &[
            "identity", "create", "carol", "--direct", "--webrtc", "disable",
        ],
    );
    assert_eq!(made.0, 0, "{made:?}");
    let txt = here.path().join("c.txt");
    std::fs::write(&txt, ".example.com\tTRUE\t/\tFALSE\t4102444800\tsid\tabc\n").unwrap();
    assert_eq!(
        run(
            here.path(),
            &[
                "identity",
                "cookies",
                "import",
                "carol",
                txt.to_str().unwrap()
            ]
        )
        .0,
        0
    );
    let (status, log) = daemon.stop().await;
    assert!(status.success(), "{log}");
    let file = here.path().join("carol.vipid");
    let out = run(
        here.path(),
        &["identity", "export", "carol", file.to_str().unwrap()],
    );
    assert_eq!(out.0, 0, "{out:?}");
    let sealed = std::fs::read(&file).unwrap();
    assert!(!String::from_utf8_lossy(&sealed).contains("abc"), "sealed");

    // The other machine has its own master password.
    let other = "the other machine's password";
    let on_other = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_vip"));
        cmd.args(args)
            .env("VIP_DATA_DIR", there.path())
            .env("VIP_MASTER_PASSWORD", other);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert_eq!(on_other(&["vault", "init"], &[]).0, 0);
    let path = file.to_str().unwrap();
    let (code, err) = on_other(&["identity", "import", path], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("does not open") && err.contains("VIP_FILE_PASSWORD"),
        "{err}"
    );
    let cut = there.path().join("cut.vipid");
    std::fs::write(&cut, &sealed[..sealed.len() / 2]).unwrap();
    let (code, err) = on_other(
        &["identity", "import", cut.to_str().unwrap()],
        &[("VIP_FILE_PASSWORD", MASTER)],
    );
    assert_eq!(code, 2, "{err}");
    let store = vip_store::Store::open(there.path().join(vip_store::DATABASE_FILE)).unwrap();
    assert!(
        store.list_identities().unwrap().is_empty(),
        "nothing half-imported"
    );

    let (code, err) = on_other(
        &["identity", "import", path],
        &[("VIP_FILE_PASSWORD", MASTER)],
    );
    assert_eq!(code, 0, "{err}");
    let (code, err) = on_other(
        &["identity", "import", path],
        &[("VIP_FILE_PASSWORD", MASTER)],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("\"carol\" already exists") && err.contains("--as"),
        "{err}"
    );
    let (code, err) = on_other(
        &["identity", "import", path, "--as", "carol2"],
        &[("VIP_FILE_PASSWORD", MASTER)],
    );
    assert_eq!(code, 0, "{err}");

    let mine = vip_store::Store::open(here.path().join(vip_store::DATABASE_FILE)).unwrap();
    let my_vault = Vault::unlock(mine.conn(), &Secret::new(MASTER)).unwrap();
    let their_vault = Vault::unlock(store.conn(), &Secret::new(other)).unwrap();
    let a = mine.get_identity(&my_vault, "carol").unwrap().unwrap();
    for name in ["carol", "carol2"] {
        let b = store.get_identity(&their_vault, name).unwrap().unwrap();
        assert_eq!(a.seed.as_slice(), b.seed.as_slice(), "{name}");
        assert_eq!(a.storage.as_deref(), b.storage.as_deref(), "{name}");
        assert_eq!(
            (&a.assignment, &a.webrtc_policy),
            (&b.assignment, &b.webrtc_policy)
        );
    }
}
