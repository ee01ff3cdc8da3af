//! Compiles the C++ shim against libfreenect2, found with pkg-config, when the `ffi` feature is
//! on; does nothing otherwise (so the default workspace build needs neither libfreenect2 nor a
//! C++ compiler).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "ffi")]
    ffi::build();
}

#[cfg(feature = "ffi")]
mod ffi {
    use std::process::exit;

    /// The oldest libfreenect2 whose API the shim uses (`startStreams`, `Frame::format`).
    const MIN_VERSION: &str = "0.2";

    pub(crate) fn build() {
        for file in [
            "shim/sk2_freenect2_shim.h",
            "shim/shim_internal.h",
            "shim/pipelines.cpp",
            "shim/device.cpp",
        ] {
            println!("cargo:rerun-if-changed={file}");
        }
        println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");

        // Probe without emitting link lines yet: the shim must come before libfreenect2 on the
        // linker command line (a static libfreenect2, like the test stand-in, is resolved in
        // order), and the C++ runtime after both.
        let library = match pkg_config::Config::new()
            .atleast_version(MIN_VERSION)
            .cargo_metadata(false)
            .probe("freenect2")
        {
            Ok(library) => library,
            Err(error) => {
                // pkg-config's own first line says what is wrong ("Package freenect2 was not
                // found...", "Requested 'freenect2 >= 0.2' but version..."); the crate's
                // Display of the error spans a dozen lines.
                let detail = match &error {
                    pkg_config::Error::Failure { output, .. }
                    | pkg_config::Error::ProbeFailure { output, .. } => {
                        String::from_utf8_lossy(&output.stderr).into_owned()
                    }
                    other => other.to_string(),
                };
                let reason = detail
                    .lines()
                    .map(str::trim)
                    .find(|line| !line.is_empty())
                    .unwrap_or("not found")
                    .trim_end_matches('.')
                    .to_owned();
                let search_path = std::env::var("PKG_CONFIG_PATH")
                    .map_or_else(|_| "unset".to_owned(), |path| format!("{path:?}"));
                eprintln!(
                    "error: sk2-freenect2 (feature `ffi`/`freenect2`) needs libfreenect2 >= {MIN_VERSION}, \
                     but pkg-config cannot find `freenect2` ({reason}; PKG_CONFIG_PATH is {search_path}); build and install \
                     libfreenect2 (docs/freenect2.md), then set \
                     PKG_CONFIG_PATH=<install prefix>/lib/pkgconfig, e.g. \
                     PKG_CONFIG_PATH=$HOME/freenect2/lib/pkgconfig"
                );
                exit(1);
            }
        };

        // The standin-tests tests call the stand-in's test hooks; against a real libfreenect2
        // they would end in a page of undefined `sk2_standin_*` symbols at link time.
        let standin = library
            .include_paths
            .iter()
            .any(|dir| dir.join("sk2_standin_control.h").is_file());
        if std::env::var_os("CARGO_FEATURE_STANDIN_TESTS").is_some() && !standin {
            eprintln!(
                "error: the feature `standin-tests` needs the libfreenect2 stand-in of \
                 crates/sk2-freenect2/tests/fixtures (PKG_CONFIG_PATH=$(crates/sk2-freenect2/tests/fixtures/build-standin.sh | tail -n1)), \
                 but pkg-config found a real libfreenect2 (include directories {:?}); test a real \
                 installation with `--features ffi` instead (docs/freenect2.md)",
                library.include_paths
            );
            exit(1);
        }

        let mut shim = cc::Build::new();
        shim.cpp(true)
            .cpp_link_stdlib(None)
            .std("c++11")
            .file("shim/pipelines.cpp")
            .file("shim/device.cpp")
            .include("shim")
            .warnings(true);
        for include in &library.include_paths {
            shim.include(include);
        }
        shim.compile("sk2_freenect2_shim");

        for path in &library.link_paths {
            println!("cargo:rustc-link-search=native={}", path.display());
        }
        // Rebuild (and relink) when the library or its headers change, e.g. the test stand-in
        // rebuilt in place; cargo does not watch files outside the package by itself.
        for dir in &library.include_paths {
            watch_dir(&dir.join("libfreenect2"));
        }
        for dir in &library.link_paths {
            let archive = dir.join("libfreenect2.a");
            if archive.is_file() {
                println!("cargo:rerun-if-changed={}", archive.display());
            }
        }
        // A libfreenect2 installed in its own prefix is not on the dynamic loader's path: record
        // its directory as a run path (RUNPATH; LD_LIBRARY_PATH still overrides it) so that the
        // programs run as built. `rustc-link-arg` only reaches this package's own tests and
        // benches; the `rpath` metadata (DEP_FREENECT2_RPATH, thanks to `links`) lets the
        // package that builds kinect-server add it to its binaries. A static library (the test
        // stand-in) needs none.
        let rpath: Vec<&std::path::Path> = library
            .link_paths
            .iter()
            .filter(|dir| has_shared_libfreenect2(dir))
            .map(|dir| dir.as_path())
            .collect();
        for dir in &rpath {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
        }
        if let Ok(joined) = std::env::join_paths(&rpath) {
            println!("cargo:rpath={}", joined.to_string_lossy());
        }
        for lib in &library.libs {
            println!("cargo:rustc-link-lib={lib}");
        }
        println!("cargo:rustc-link-lib=stdc++");
    }

    /// Asks cargo to rerun the build script when a file directly in `dir` changes.
    fn watch_dir(dir: &std::path::Path) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.filter_map(Result::ok) {
            println!("cargo:rerun-if-changed={}", entry.path().display());
        }
    }

    /// Whether `dir` holds a shared libfreenect2 (`libfreenect2.so`, `.so.0.2`, ...).
    fn has_shared_libfreenect2(dir: &std::path::Path) -> bool {
        std::fs::read_dir(dir).is_ok_and(|entries| {
            entries.filter_map(Result::ok).any(|entry| {
                entry
                    .file_name()
                    .to_str()
                    .is_some_and(|name| name.starts_with("libfreenect2.so"))
            })
        })
    }
}
