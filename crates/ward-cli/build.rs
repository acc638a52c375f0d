//! Build facts `ward version` reports: the target triple (only build scripts see it) and
//! the Git commit when the builder passes one in `WARD_GIT_COMMIT` (CI, release builds).

fn main() {
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=WARD_BUILD_TARGET={target}");
    println!("cargo:rerun-if-env-changed=WARD_GIT_COMMIT");
    println!("cargo:rerun-if-changed=build.rs");
}
