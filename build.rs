//! Generates the gRPC code for `proto/` with a vendored `protoc`, so that a
//! fresh machine needs no system package, and writes the file descriptor set
//! that server reflection serves.

use std::{env, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/reserve/v1/common.proto",
        "proto/reserve/v1/support_request.proto",
        "proto/reserve/v1/dispatch.proto",
        "proto/reserve/v1/provider.proto",
        "proto/reserve/v1/registry.proto",
        "proto/reserve/v1/audit.proto",
        "proto/reserve/v1/preparedness.proto",
        "proto/google/type/date.proto",
    ];
    for proto in &protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    // SAFETY: build scripts are single-threaded; prost-build reads PROTOC.
    unsafe {
        env::set_var("PROTOC", protoc_bin_vendored::protoc_bin_path()?);
    }
    let include = protoc_bin_vendored::include_path()?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("reserve_descriptor.bin"))
        .compile_protos(&protos, &["proto", include.to_str().ok_or("include path")?])?;
    Ok(())
}
