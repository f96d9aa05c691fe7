//! Generates the gRPC types and a descriptor set (for server reflection) from `seafbackup/`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["seafbackup/admin/v1/admin.proto", "seafbackup/internal/v1/coordinator.proto"];
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out.join("seafbackup_descriptor.bin"))
        // Job carries a sync token: its Debug is written by hand, without it (see lib.rs).
        .skip_debug(["seafbackup.internal.v1.Job"])
        .compile_protos(&protos, &["."])?;
    for p in protos {
        println!("cargo:rerun-if-changed={p}");
    }
    Ok(())
}
