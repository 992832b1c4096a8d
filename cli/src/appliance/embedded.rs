//! The appliance image context the CLI carries: `images/appliance` and the
//! static binaries embedded by `build.rs` (coold, coolify-broker, and
//! coolify-builder when it was built).

/// The appliance Containerfile (FROM scratch, the binaries only).
pub const CONTAINERFILE: &str = include_str!("../../../images/appliance/Containerfile");

/// One static binary of the image context.
#[derive(Debug)]
pub struct EmbeddedBinary {
    /// Its file name in the image context (`COPY <name> …`).
    pub name: &'static str,
    pub bytes: &'static [u8],
    pub sha256: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

pub const COOLD: &str = "coold";
pub const BROKER: &str = "coolify-broker";

/// What this CLI carries: every binary plus the hash over all of them.
#[derive(Debug, Clone, Copy)]
pub struct Bundle {
    pub binaries: &'static [EmbeddedBinary],
    /// Labels the image and the containers: any binary changing means a
    /// new image.
    pub sha256: &'static str,
}

impl Bundle {
    pub fn get(&self, name: &str) -> Option<&'static EmbeddedBinary> {
        self.binaries.iter().find(|b| b.name == name)
    }

    /// coold's own hash (the container label older CLIs compare).
    pub fn coold_sha256(&self) -> &'static str {
        self.get(COOLD).map(|b| b.sha256).unwrap_or_default()
    }

    /// The first of `needed` this CLI lacks. Only coold is needed for
    /// every image; the others are left out when absent.
    pub fn missing<'a>(&self, needed: &[&'a str]) -> Option<&'a str> {
        needed.iter().copied().find(|n| self.get(n).is_none())
    }
}

/// This CLI's bundle.
pub fn bundle() -> Bundle {
    Bundle {
        binaries: BINARIES,
        sha256: BUNDLE_SHA256,
    }
}
