pub fn configure() {
    println!("cargo:rerun-if-changed=build/main.rs");
    println!("cargo:rerun-if-env-changed=PROFILE");

    // Note that by default `libzmq` builds without `libsodium` by instead
    // relying on `tweetnacl`. However since this `tweetnacl` [has never been
    // audited nor is ready for production](https://github.com/zeromq/libzmq/issues/3006),
    // we link against `libsodium` to enable `ZMQ_CURVE`.
    //
    // sk2: the published crate passes `None` here, which builds libzmq without CURVE. The
    // libsodium that `libsodium-sys-stable` built is passed instead (its `links = "sodium"`
    // metadata).
    let sodium_lib = std::env::var_os("DEP_SODIUM_LIB")
        .expect("libsodium-sys-stable sets DEP_SODIUM_LIB");
    let sodium_include = std::env::var_os("DEP_SODIUM_INCLUDE")
        .expect("libsodium-sys-stable sets DEP_SODIUM_INCLUDE");
    // sk2: cargo shows the C++ compiler's warnings for a path dependency (it hides them for a
    // published crate): dozens of them about libzmq's own code on every cold build. `-w` keeps
    // them quiet; flags already set are kept.
    for flags in ["CFLAGS", "CXXFLAGS"] {
        let mut value = std::env::var(flags).unwrap_or_default();
        value.push_str(" -w");
        std::env::set_var(flags, value.trim());
    }
    zeromq_src::Build::new()
        .with_libsodium(Some(zeromq_src::LibLocation::new(
            sodium_lib,
            sodium_include,
        )))
        .build();
}

fn main() {
    configure()
}
