//! Build script: compiles the long-double helper and embeds the git sha and a build id that
//! INFO server reports (redis_git_sha1, redis_git_dirty, redis_build_id).

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    cc::Build::new()
        .file("src/types/longdouble.c")
        .opt_level(2)
        .compile("forkvld");
    println!("cargo:rerun-if-changed=src/types/longdouble.c");
    let sha = git(&["rev-parse", "--short=8", "HEAD"]).unwrap_or_else(|| "00000000".into());
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
        .map(|s| if s.is_empty() { "0" } else { "1" })
        .unwrap_or("0");
    let build_id = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    );
    println!("cargo:rustc-env=FORKV_GIT_SHA1={sha}");
    println!("cargo:rustc-env=FORKV_GIT_DIRTY={dirty}");
    println!("cargo:rustc-env=FORKV_BUILD_ID={build_id}");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/index");
}
