//! Tenant state sync, for real: a real `rclone` against a real S3 server
//! (moto's, started per test on 127.0.0.1) and against local paths, with
//! real files. The pools tests do the container-level claim/release path;
//! these prove the functions it is built on.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use coold::hosttools::ToolRunner;
use coold::tenant_sync::{
    Direction, LocalSink, Mapping, Mode, Outcome, Period, Retry, S3Sink, Secret, Sink, StateSync,
    SyncError, SyncPolicy, SyncSpec, Transfer,
};
use support::s3::{list_bucket, MotoServer};

const TIMEOUT: Duration = Duration::from_secs(120);

fn runner() -> StateSync {
    StateSync::new("rclone", ToolRunner::from_path(), TIMEOUT)
}

fn mapping(path: &str, direction: Direction, mode: Mode) -> Mapping {
    Mapping {
        path: path.into(),
        direction,
        mode,
    }
}

fn s3_sink(endpoint: &str, key_id: &str, secret: &str) -> Sink {
    Sink::S3(S3Sink {
        endpoint: Some(endpoint.into()),
        region: Some("us-east-1".into()),
        bucket: "state".into(),
        prefix: "tenants/${tenantId}/".into(),
        access_key_id: Some(Secret(key_id.into())),
        secret_access_key: Some(Secret(secret.into())),
        ..S3Sink::default()
    })
}

/// A local sink at `<root>/<tenant><suffix>`.
fn local_sink(root: &Path, suffix: &str) -> Sink {
    Sink::Local(LocalSink {
        path: format!("{}/${{tenantId}}{suffix}", root.display()),
        rclone_flags: vec![],
    })
}

fn spec(sink: Sink, mappings: Vec<Mapping>) -> SyncSpec {
    SyncSpec {
        sink,
        mappings,
        policy: SyncPolicy::default(),
    }
}

fn whole(sink: Sink) -> SyncSpec {
    spec(
        sink,
        vec![mapping("/", Direction::Bidirectional, Mode::Sync)],
    )
}

fn write(root: &Path, rel: &str, content: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, content).expect("write");
}

/// Every file under `root`, relative path → content.
fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, at: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(at) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).expect("under root");
                out.insert(
                    rel.to_string_lossy().into_owned(),
                    std::fs::read(&p).expect("read"),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// A tenant's state as a container would leave it: nested dirs, binary data.
fn sample_state(dir: &Path) {
    write(dir, "config.json", br#"{"theme":"dark"}"#);
    write(dir, "credentials/token", b"tenant-token");
    write(dir, "db/data/blob.bin", &(0..=255u8).collect::<Vec<_>>());
}

fn fresh_dir(tmp: &tempfile::TempDir, name: &str) -> PathBuf {
    tmp.path().join(name)
}

#[tokio::test]
async fn s3_state_survives_upload_then_download_into_a_fresh_dir() {
    let moto = MotoServer::start();
    let spec = whole(s3_sink(&moto.endpoint, "AKIDTEST", "secret-test"));
    let tmp = tempfile::tempdir().expect("tmp");
    let old = fresh_dir(&tmp, "container-1");
    sample_state(&old);

    let up = runner()
        .upload(&spec, "tenant-1", &old)
        .await
        .expect("upload");
    assert_eq!(up.transfer, Transfer::Upload);
    assert_eq!(up.mappings.len(), 1);
    // The endpoint is honoured and the tenant's prefix holds the state.
    assert_eq!(
        list_bucket(&moto.endpoint, "state"),
        [
            "tenants/tenant-1/config.json",
            "tenants/tenant-1/credentials/token",
            "tenants/tenant-1/db/data/blob.bin"
        ]
    );

    let new = fresh_dir(&tmp, "container-2");
    let down = runner()
        .download(&spec, "tenant-1", &new)
        .await
        .expect("download");
    assert_eq!(down.mappings[0].outcome, Outcome::Transferred);
    assert_eq!(tree(&new), tree(&old));
}

#[tokio::test]
async fn local_sink_state_survives_upload_then_download_into_a_fresh_dir() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sink_root = tmp.path().join("sink");
    let spec = whole(local_sink(&sink_root, "/state"));
    let old = fresh_dir(&tmp, "container-1");
    sample_state(&old);
    runner().upload(&spec, "t1", &old).await.expect("upload");
    assert_eq!(tree(&sink_root.join("t1/state")), tree(&old));

    let new = fresh_dir(&tmp, "container-2");
    runner()
        .download(&spec, "t1", &new)
        .await
        .expect("download");
    assert_eq!(tree(&new), tree(&old));
}

#[tokio::test]
async fn sync_mode_deletes_remote_files_removed_locally_and_copy_mode_does_not() {
    let moto = MotoServer::start();
    let spec = spec(
        s3_sink(&moto.endpoint, "AKIDTEST", "secret-test"),
        vec![
            mapping("mirrored", Direction::Bidirectional, Mode::Sync),
            mapping("added", Direction::Upload, Mode::Copy),
        ],
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let state = fresh_dir(&tmp, "c");
    for dir in ["mirrored", "added"] {
        write(&state, &format!("{dir}/keep"), b"1");
        write(&state, &format!("{dir}/drop"), b"2");
    }
    runner()
        .upload(&spec, "t", &state)
        .await
        .expect("first upload");
    std::fs::remove_file(state.join("mirrored/drop")).expect("rm");
    std::fs::remove_file(state.join("added/drop")).expect("rm");
    runner()
        .upload(&spec, "t", &state)
        .await
        .expect("second upload");
    assert_eq!(
        list_bucket(&moto.endpoint, "state"),
        [
            "tenants/t/added/drop",
            "tenants/t/added/keep",
            "tenants/t/mirrored/keep"
        ]
    );
}

#[tokio::test]
async fn an_upload_only_mapping_is_never_downloaded() {
    let tmp = tempfile::tempdir().expect("tmp");
    let spec = spec(
        local_sink(&tmp.path().join("sink"), ""),
        vec![
            mapping("backup", Direction::Upload, Mode::Sync),
            mapping("work", Direction::Bidirectional, Mode::Sync),
        ],
    );
    let old = fresh_dir(&tmp, "c1");
    write(&old, "backup/b", b"backup");
    write(&old, "work/w", b"work");
    runner().upload(&spec, "t", &old).await.expect("upload");
    assert!(tmp.path().join("sink/t/backup/b").exists());

    let new = fresh_dir(&tmp, "c2");
    write(&new, "backup/local-only", b"stays");
    let down = runner().download(&spec, "t", &new).await.expect("download");
    assert_eq!(down.mappings.len(), 1, "only the bidirectional mapping");
    assert_eq!(down.mappings[0].path, "work");
    assert_eq!(
        tree(&new).into_keys().collect::<Vec<_>>(),
        ["backup/local-only", "work/w"]
    );
}

#[tokio::test]
async fn a_new_tenant_download_is_not_an_error_and_changes_nothing() {
    let moto = MotoServer::start();
    let spec = whole(s3_sink(&moto.endpoint, "AKIDTEST", "secret-test"));
    let tmp = tempfile::tempdir().expect("tmp");
    let state = fresh_dir(&tmp, "c");
    write(&state, "already-there", b"x");
    let down = runner()
        .download(&spec, "never-uploaded", &state)
        .await
        .expect("download of a new tenant");
    assert_eq!(down.mappings[0].outcome, Outcome::NothingStored);
    assert_eq!(
        tree(&state).into_keys().collect::<Vec<_>>(),
        ["already-there"]
    );
}

/// The sink fails; the error names the mapping and the local data is as it was.
async fn assert_failing_sink_keeps_local_data(spec: &SyncSpec, secret: &str) {
    let tmp = tempfile::tempdir().expect("tmp");
    let state = fresh_dir(&tmp, "c");
    sample_state(&state);
    let before = tree(&state);

    let up = runner()
        .upload(spec, "t", &state)
        .await
        .expect_err("upload must fail");
    let down = runner()
        .download(spec, "t", &state)
        .await
        .expect_err("download must fail");
    for err in [&up, &down] {
        assert!(matches!(err, SyncError::Rclone { .. }), "{err}");
        assert_eq!(err.mapping(), Some("credentials"), "{err}");
        assert!(err.to_string().contains("\"credentials\""), "{err}");
        assert!(err.is_retryable());
        assert!(!err.to_string().contains(secret), "secret in {err}");
    }
    assert_eq!(tree(&state), before);
    // No staging dir left beside the state dir.
    assert_eq!(std::fs::read_dir(tmp.path()).expect("ls").count(), 1);
}

#[tokio::test]
async fn a_sink_on_a_closed_port_fails_naming_the_mapping_and_keeps_local_data() {
    let closed = support::free_port();
    let spec = spec(
        s3_sink(
            &format!("http://127.0.0.1:{closed}"),
            "AKIDTEST",
            "secret-closed",
        ),
        vec![mapping("credentials", Direction::Bidirectional, Mode::Sync)],
    );
    assert_failing_sink_keeps_local_data(&spec, "secret-closed").await;
}

#[tokio::test]
async fn bad_credentials_fail_naming_the_mapping_and_keep_local_data() {
    let moto = MotoServer::start_refusing_all_keys();
    let spec = spec(
        s3_sink(&moto.endpoint, "AKIDUNKNOWN", "secret-wrong-0123"),
        vec![mapping("credentials", Direction::Bidirectional, Mode::Sync)],
    );
    assert_failing_sink_keeps_local_data(&spec, "secret-wrong-0123").await;
    assert!(
        moto.log_text().contains(" 403 "),
        "moto refused the key: {}",
        moto.log_text()
    );
}

/// An executable shell script standing in front of the real rclone.
fn rclone_wrapper(dir: &Path, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("rclone-wrapper");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\nexec rclone \"$@\"\n")).expect("wrapper");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

#[tokio::test]
async fn a_retrying_upload_tries_a_down_sink_again_but_not_bad_input() {
    let tmp = tempfile::tempdir().expect("tmp");
    let runs = tmp.path().join("runs");
    let wrapper = rclone_wrapper(tmp.path(), &format!("echo run >> {}", runs.display()));
    let sync =
        StateSync::new(&wrapper, ToolRunner::from_path(), TIMEOUT).with_env(Arc::new(|_| None));
    let state = fresh_dir(&tmp, "c");
    sample_state(&state);
    let retry = Retry {
        attempts: 3,
        backoff: Duration::from_millis(50),
    };
    let closed = support::free_port();
    let down = whole(s3_sink(
        &format!("http://127.0.0.1:{closed}"),
        "AKID",
        "secret",
    ));
    let err = sync
        .upload_retrying(&down, "t", &state, retry)
        .await
        .expect_err("the sink stays down");
    assert!(err.is_retryable(), "{err}");
    let count = |p: &Path| {
        std::fs::read_to_string(p)
            .map(|s| s.lines().count())
            .unwrap_or(0)
    };
    assert_eq!(count(&runs), 3);

    // A credential variable that is not set: fixed by an operator, not by
    // waiting, so no rclone runs at all.
    std::fs::remove_file(&runs).expect("rm");
    let Sink::S3(mut s3) = down.sink.clone() else {
        unreachable!()
    };
    (s3.access_key_id, s3.secret_access_key) = (None, None);
    s3.access_key_id_env = Some("UNSET_KEY_ID".into());
    s3.secret_access_key_env = Some("UNSET_SECRET".into());
    let err = sync
        .upload_retrying(&whole(Sink::S3(s3)), "t", &state, retry)
        .await
        .expect_err("no credentials");
    assert!(
        matches!(&err, SyncError::MissingCredential { var, .. } if var == "UNSET_KEY_ID"),
        "{err}"
    );
    assert_eq!(count(&runs), 0);
    assert_eq!(tree(&state).len(), 3, "state kept");
}

#[tokio::test]
async fn a_symlink_planted_in_the_state_dir_is_never_followed_on_upload() {
    let tmp = tempfile::tempdir().expect("tmp");
    let host_file = tmp.path().join("host-secret");
    std::fs::write(&host_file, b"host only").expect("write");
    let spec = whole(local_sink(&tmp.path().join("sink"), ""));
    let state = fresh_dir(&tmp, "c");
    write(&state, "own", b"tenant");
    std::os::unix::fs::symlink(&host_file, state.join("link-to-host")).expect("symlink");
    std::os::unix::fs::symlink(tmp.path(), state.join("dir-link")).expect("symlink");
    runner().upload(&spec, "t", &state).await.expect("upload");
    assert_eq!(
        tree(&tmp.path().join("sink/t"))
            .into_keys()
            .collect::<Vec<_>>(),
        ["own"]
    );
}

#[tokio::test]
async fn rclone_runs_chrooted_into_the_host_root() {
    // Inside the appliance rclone is the host's, run chrooted into the
    // host root; here the host root is `/`, so the same paths hold.
    let tmp = tempfile::tempdir().expect("tmp");
    let spec = whole(local_sink(&tmp.path().join("sink"), ""));
    let sync = StateSync::new("rclone", ToolRunner::in_host_root("/"), TIMEOUT);
    let old = fresh_dir(&tmp, "c1");
    sample_state(&old);
    sync.upload(&spec, "t", &old).await.expect("upload");
    let new = fresh_dir(&tmp, "c2");
    sync.download(&spec, "t", &new).await.expect("download");
    assert_eq!(tree(&new), tree(&old));
}

#[tokio::test]
async fn a_download_failing_midway_leaves_the_state_dir_as_it_was() {
    // Mapping "a" arrives from a working local sink through the real
    // rclone; the run for mapping "b" then fails (injected by a wrapper
    // keyed on b's filter). Nothing of "a" may land.
    let tmp = tempfile::tempdir().expect("tmp");
    let sink = tmp.path().join("sink");
    write(&sink, "t/a/remote", b"remote");
    write(&sink, "t/b/remote", b"remote");
    let spec = spec(
        local_sink(&sink, ""),
        vec![
            mapping("a", Direction::Download, Mode::Sync),
            mapping("b", Direction::Download, Mode::Sync),
        ],
    );
    let state = fresh_dir(&tmp, "c");
    write(&state, "a/local", b"local");
    let before = tree(&state);
    let wrapper = rclone_wrapper(
        tmp.path(),
        r#"case "$*" in *"+ /b "*) echo "injected failure for b" >&2; exit 1;; esac"#,
    );
    let err = StateSync::new(&wrapper, ToolRunner::from_path(), TIMEOUT)
        .download(&spec, "t", &state)
        .await
        .expect_err("b must fail");
    assert_eq!(err.mapping(), Some("b"), "{err}");
    assert!(err.to_string().contains("injected failure for b"), "{err}");
    assert_eq!(tree(&state), before);
    // The same download through the plain rclone does land both.
    runner()
        .download(&spec, "t", &state)
        .await
        .expect("download");
    assert_eq!(
        tree(&state).into_keys().collect::<Vec<_>>(),
        ["a/remote", "b/remote"]
    );
}

#[tokio::test]
async fn credentials_never_reach_rclones_argv() {
    let moto = MotoServer::start();
    let tmp = tempfile::tempdir().expect("tmp");
    // A real rclone behind a wrapper that records what the kernel shows
    // for the process: its argv (/proc/<pid>/cmdline, what `ps` prints)
    // and its environment.
    let record = tmp.path().join("record");
    let wrapper = rclone_wrapper(
        tmp.path(),
        &format!(
            "cat /proc/$$/cmdline >> {r}.argv\ncat /proc/$$/environ >> {r}.env",
            r = record.display()
        ),
    );

    let Sink::S3(mut s3) = s3_sink(&moto.endpoint, "", "") else {
        unreachable!()
    };
    s3.access_key_id = None;
    s3.secret_access_key = None;
    s3.access_key_id_env = Some("TEST_SYNC_KEY_ID".into());
    s3.secret_access_key_env = Some("TEST_SYNC_SECRET".into());
    let spec = whole(Sink::S3(s3));
    let env: BTreeMap<&str, &str> = [
        ("TEST_SYNC_KEY_ID", "AKID-ARGV-CHECK"),
        ("TEST_SYNC_SECRET", "secret-argv-check-42"),
    ]
    .into();
    let sync = StateSync::new(&wrapper, ToolRunner::from_path(), TIMEOUT)
        .with_env(Arc::new(move |k| env.get(k).map(|v| v.to_string())));

    let state = fresh_dir(&tmp, "c");
    sample_state(&state);
    sync.upload(&spec, "t", &state).await.expect("upload");
    sync.download(&spec, "t", &fresh_dir(&tmp, "c2"))
        .await
        .expect("download");

    let argv = std::fs::read(record.with_extension("argv")).expect("argv record");
    let environ = std::fs::read(record.with_extension("env")).expect("env record");
    let argv = String::from_utf8_lossy(&argv).replace('\0', " ");
    let environ = String::from_utf8_lossy(&environ).replace('\0', "\n");
    assert!(argv.contains("coolifysink:state/tenants/t"), "{argv}");
    assert!(!argv.contains("secret-argv-check-42"), "{argv}");
    assert!(!argv.contains("AKID-ARGV-CHECK"), "{argv}");
    // The check can fail: the same records do carry the secret, in the env.
    assert!(
        environ.contains("RCLONE_CONFIG_COOLIFYSINK_SECRET_ACCESS_KEY=secret-argv-check-42"),
        "{environ}"
    );
    // And nothing of this test process's environment leaked into rclone's.
    assert!(!environ.contains("CARGO"), "{environ}");
}

#[tokio::test]
async fn two_tenants_never_see_each_others_state() {
    let moto = MotoServer::start();
    let spec = whole(s3_sink(&moto.endpoint, "AKIDTEST", "secret-test"));
    let tmp = tempfile::tempdir().expect("tmp");
    // "a" is a prefix of "ab": their key prefixes must still not overlap.
    for tenant in ["a", "ab"] {
        let dir = fresh_dir(&tmp, &format!("up-{tenant}"));
        write(&dir, &format!("only-{tenant}"), tenant.as_bytes());
        runner().upload(&spec, tenant, &dir).await.expect("upload");
    }
    for tenant in ["a", "ab"] {
        let dir = fresh_dir(&tmp, &format!("down-{tenant}"));
        runner()
            .download(&spec, tenant, &dir)
            .await
            .expect("download");
        assert_eq!(
            tree(&dir).into_keys().collect::<Vec<_>>(),
            [format!("only-{tenant}")]
        );
    }
    // A tenant id with path characters never reaches a path.
    let err = runner()
        .download(&spec, "../a", &fresh_dir(&tmp, "evil"))
        .await
        .expect_err("refused");
    assert!(matches!(err, SyncError::Tenant(_)), "{err}");
    assert!(!fresh_dir(&tmp, "evil").exists());
}

#[tokio::test]
async fn periodic_uploads_happen_at_the_policys_period() {
    let moto = MotoServer::start();
    let mut spec = whole(s3_sink(&moto.endpoint, "AKIDTEST", "secret-test"));
    spec.policy.periodic = Some(Period(Duration::from_millis(300)));
    let tmp = tempfile::tempdir().expect("tmp");
    let state = fresh_dir(&tmp, "c");
    write(&state, "first", b"1");

    let cancel = tokio_util::sync::CancellationToken::new();
    let periodic = coold::tenant_sync::Periodic::start(
        runner(),
        Arc::new(spec),
        "t".into(),
        state.clone(),
        cancel.child_token(),
    )
    .expect("spec has a period");
    let mut status = periodic.status();
    let wait_for = |want: &'static str| {
        let endpoint = moto.endpoint.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let keys = list_bucket(&endpoint, "state");
                if keys.iter().any(|k| k.ends_with(want)) {
                    return;
                }
                assert!(Instant::now() < deadline, "{want} never uploaded: {keys:?}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    wait_for("first").await;
    // A later change goes up by itself too: the uploads repeat.
    write(&state, "second", b"2");
    wait_for("second").await;
    tokio::time::timeout(Duration::from_secs(30), status.wait_for(|s| s.uploads >= 2))
        .await
        .expect("two uploads counted within 30 s")
        .expect("status channel open");
    assert_eq!(status.borrow().failures, 0);
    periodic.stop().await;
}
