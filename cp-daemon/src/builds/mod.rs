//! Image builds (issue 5, DESIGN.md decision 5): each BuildRequest from the
//! broker runs `coolify-builder` in a transient, fenced Podman container
//! `coolify-build-<request_id>`, one container per build; its events
//! stream back as they are written and its result file becomes the
//! Response. `COOLD_BUILD_WARM` containers are made and started ahead of
//! requests (`warm_builders.rs`), each waiting for one build. Builds
//! outlive the agent: on start it adopts running ones and reports finished
//! ones. The files a build leaves, and their names, are the contract with
//! the builder (`coolify-build-contract`).
//!
//! Pure: `request.rs` (ids, credentials split, argv, verdicts), the batch
//! in `egress.rs`. Effects: `workdir.rs` and `warm_builders.rs` (files),
//! `container.rs` (Podman), `process_exit.rs` (procfs),
//! `dir_watch.rs` (inotify), `egress::fence` (iptables in the container's
//! netns). `driver/` ties them together, one file per job; `outbox.rs` is
//! the session the frames go to. The pure modules import no effect module.

mod container;
mod dir_watch;
mod driver;
pub mod egress;
mod metrics;
mod outbox;
mod process_exit;
pub mod request;
mod warm_builders;
pub mod workdir;

pub use driver::Builds;

use std::path::Path;

/// Where Podman describes a container to itself; for a privileged
/// container (the appliance is one) it names the image it runs.
pub const CONTAINERENV: &str = "/run/.containerenv";

/// The builder image when `COOLD_BUILDER_IMAGE` is unset: the appliance's
/// own image (it carries `/coolify-builder` beside `/coold`).
pub fn own_image(containerenv: &Path) -> Option<String> {
    let text = std::fs::read_to_string(containerenv).ok()?;
    text.lines().find_map(|l| {
        let v = l.strip_prefix("image=")?.trim().trim_matches('"');
        (!v.is_empty()).then(|| v.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_own_image_comes_from_containerenv() {
        let d = tempfile::tempdir().expect("dir");
        let f = d.path().join("containerenv");
        std::fs::write(
            &f,
            "engine=\"podman-4.3.1\"\nname=\"coolify-cp\"\nid=\"abc\"\nimage=\"localhost/coolify-cp:0.1.0\"\nimageid=\"def\"\n",
        )
        .expect("write");
        assert_eq!(own_image(&f).as_deref(), Some("localhost/coolify-cp:0.1.0"));
        std::fs::write(&f, "").expect("write");
        assert_eq!(own_image(&f), None);
        assert_eq!(own_image(&d.path().join("absent")), None);
    }
}
