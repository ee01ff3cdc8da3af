//! With the `freenect2` feature: embeds the directory of the libfreenect2 that was linked as a
//! run path of the binaries, so that `kinect-server` runs as built even when libfreenect2 is
//! installed in its own prefix (docs/freenect2.md). `sk2-freenect2`'s build script finds the
//! directory; cargo passes it here as DEP_FREENECT2_RPATH, since a dependency's link arguments
//! never reach the binaries of the package that uses it. Does nothing without the feature.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if let Some(dirs) = std::env::var_os("DEP_FREENECT2_RPATH") {
        for dir in std::env::split_paths(&dirs) {
            println!("cargo:rustc-link-arg-bins=-Wl,-rpath,{}", dir.display());
        }
    }
}
