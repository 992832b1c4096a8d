//! Table test of the deny filter: each refused field is named, an allowed
//! bind path passes and a `..` escape of it does not.

use super::*;
use crate::containers::types::Mount;

fn base() -> CreateContainer {
    CreateContainer {
        image: "localhost/coolify-test-busybox:latest".into(),
        ..Default::default()
    }
}

fn bind(source: &str) -> Mount {
    Mount {
        kind: MountKind::Bind,
        source: Some(source.into()),
        target: "/data".into(),
        read_only: false,
    }
}

const ALLOWED_ROOT: &str = "/nonexistent-coolify-allow/apps";

fn policy() -> DenyPolicy {
    DenyPolicy {
        bind_allowlist: vec![PathBuf::from(ALLOWED_ROOT)],
    }
}

#[test]
fn each_denied_field_is_named() {
    type Edit = fn(&mut CreateContainer);
    let cases: &[(&str, Edit)] = &[
        ("privileged", |r| r.privileged = true),
        ("cap_add[0]", |r| r.cap_add = vec!["SYS_ADMIN".into()]),
        ("cap_add[1]", |r| {
            r.cap_add = vec!["CHOWN".into(), "cap_net_admin".into()]
        }),
        ("cap_add[0]", |r| r.cap_add = vec!["SYS_MODULE".into()]),
        ("cap_add[0]", |r| r.cap_add = vec!["CAP_SYS_PTRACE".into()]),
        ("cap_add[0]", |r| r.cap_add = vec!["SYS_RAWIO".into()]),
        ("cap_add[0]", |r| r.cap_add = vec!["SYS_BOOT".into()]),
        ("cap_add[0]", |r| r.cap_add = vec!["DAC_READ_SEARCH".into()]),
        ("cap_add[0]", |r| r.cap_add = vec!["BPF".into()]),
        ("cap_add[0]", |r| r.cap_add = vec!["PERFMON".into()]),
        ("cap_add[0]", |r| r.cap_add = vec!["all".into()]),
        ("network", |r| r.network = Some("host".into())),
        ("network", |r| {
            r.network = Some("container:coolify-cp".into())
        }),
        ("network", |r| r.network = Some("ns:/proc/1/ns/net".into())),
        ("pid_mode", |r| r.pid_mode = Some("host".into())),
        ("ipc_mode", |r| r.ipc_mode = Some("host".into())),
        ("uts_mode", |r| r.uts_mode = Some("host".into())),
        ("userns_mode", |r| r.userns_mode = Some("host".into())),
        ("pid_mode", |r| r.pid_mode = Some("container:other".into())),
        ("devices", |r| r.devices = vec!["/dev/kmsg".into()]),
        ("security_opt[0]", |r| {
            r.security_opt = vec!["seccomp=unconfined".into()]
        }),
        ("security_opt[0]", |r| {
            r.security_opt = vec!["apparmor=unconfined".into()]
        }),
        ("security_opt[1]", |r| {
            r.security_opt = vec!["no-new-privileges".into(), "seccomp:unconfined".into()]
        }),
        ("security_opt[0]", |r| {
            r.security_opt = vec!["systempaths=unconfined".into()]
        }),
        ("mounts[0].source", |r| r.mounts = vec![bind("/etc")]),
        ("mounts[0].source", |r| r.mounts = vec![bind("/")]),
        ("mounts[0].source", |r| {
            r.mounts = vec![bind("/nonexistent-coolify-allow/apps/../secrets")]
        }),
        ("mounts[0].source", |r| {
            r.mounts = vec![bind("/nonexistent-coolify-allow/apps/web/../../../etc/")]
        }),
        ("mounts[0].source", |r| {
            r.mounts = vec![bind("/nonexistent-coolify-allow/apps-evil")]
        }),
        ("mounts[1].source", |r| {
            r.mounts = vec![
                bind("/nonexistent-coolify-allow/apps/web"),
                bind("/var/run"),
            ]
        }),
    ];
    for (field, edit) in cases {
        let mut req = base();
        edit(&mut req);
        let err = check(&req, &policy()).expect_err(field);
        assert_eq!(&err.field, field, "{req:?}");
        assert!(!err.malformed, "{field} should be forbidden, not malformed");
    }
}

#[test]
fn allowed_requests_pass() {
    type Edit = fn(&mut CreateContainer);
    let cases: &[Edit] = &[
        |_| {},
        |r| r.mounts = vec![bind("/nonexistent-coolify-allow/apps/web")],
        |r| r.mounts = vec![bind("/nonexistent-coolify-allow/apps/")],
        |r| r.mounts = vec![bind("/nonexistent-coolify-allow/apps/web/./data/")],
        |r| r.mounts = vec![bind("/nonexistent-coolify-allow/apps/web/../api")],
        |r| r.cap_add = vec!["NET_BIND_SERVICE".into(), "CHOWN".into()],
        |r| r.network = Some("coolify-alpha-mesh".into()),
        |r| r.network = Some("none".into()),
        |r| r.security_opt = vec!["no-new-privileges".into()],
        |r| r.userns_mode = Some("auto".into()),
        |r| r.pid_mode = Some("private".into()),
        |r| {
            r.mounts = vec![Mount {
                kind: MountKind::Volume,
                source: Some("web-data".into()),
                target: "/data".into(),
                read_only: true,
            }]
        },
    ];
    for edit in cases {
        let mut req = base();
        edit(&mut req);
        assert_eq!(check(&req, &policy()), Ok(()), "{req:?}");
    }
}

#[test]
fn no_allowlist_means_no_binds() {
    let mut req = base();
    req.mounts = vec![bind("/nonexistent-coolify-allow/apps/web")];
    let err = check(&req, &DenyPolicy::default()).unwrap_err();
    assert_eq!(err.field, "mounts[0].source");
}

#[test]
fn a_symlink_inside_the_allowlist_cannot_escape_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    std::fs::create_dir_all(root.join("apps/web")).unwrap();
    std::os::unix::fs::symlink("/etc", root.join("apps/web/etc-link")).unwrap();
    std::os::unix::fs::symlink("../..", root.join("apps/web/up")).unwrap();
    let policy = DenyPolicy {
        bind_allowlist: vec![root.join("apps")],
    };
    let mut req = base();
    req.mounts = vec![bind(&format!("{}/apps/web", root.display()))];
    assert_eq!(check(&req, &policy), Ok(()));
    for escape in ["apps/web/etc-link", "apps/web/etc-link/", "apps/web/up/"] {
        req.mounts = vec![bind(&format!("{}/{escape}", root.display()))];
        let err = check(&req, &policy).unwrap_err();
        assert_eq!(err.field, "mounts[0].source", "{escape}");
    }
}

#[test]
fn malformed_mounts_are_bad_requests_naming_the_field() {
    let cases = [
        (
            Mount {
                kind: MountKind::Bind,
                source: Some("relative/dir".into()),
                target: "/data".into(),
                read_only: false,
            },
            "mounts[0].source",
        ),
        (
            Mount {
                kind: MountKind::Volume,
                source: Some("../x".into()),
                target: "/data".into(),
                read_only: false,
            },
            "mounts[0].source",
        ),
        (
            Mount {
                kind: MountKind::Tmpfs,
                source: None,
                target: "data".into(),
                read_only: false,
            },
            "mounts[0].target",
        ),
    ];
    for (m, field) in cases {
        let mut req = base();
        req.mounts = vec![m];
        let err = check(&req, &policy()).unwrap_err();
        assert_eq!(err.field, field);
        assert!(err.malformed);
    }
}
