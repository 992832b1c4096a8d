//! Compiles agent.proto with the protoc shipped by `protoc-bin-vendored`, so
//! the build needs no system protoc (and works offline once crates are
//! fetched).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // Safety of set_var: build scripts are single-threaded.
    std::env::set_var("PROTOC", protoc);
    println!("cargo:rerun-if-changed=proto/agent.proto");
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Small per-stream buffers: see src/codec.rs.
        .codec_path("crate::codec::SmallCodec")
        .compile_protos(&["proto/agent.proto"], &["proto"])?;
    Ok(())
}
