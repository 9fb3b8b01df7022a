//! [`Builder`]: code generation from a `build.rs`, like `prost-build`.

use std::path::{Path, PathBuf};

use crate::rust::{GeneratedFile, generate_from, out_dir_index};

/// Generates Rust from `.svc` files in a build script.
///
/// ```no_run
/// // build.rs
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     svcgen_codegen::Builder::new().file("shop.svc").compile()?;
///     Ok(())
/// }
/// // src/main.rs: svcgen::include_generated!(); then `use shop_catalog::*;`
/// ```
#[derive(Clone, Debug, Default)]
pub struct Builder {
    files: Vec<PathBuf>,
    out_dir: Option<PathBuf>,
    rerun: bool,
}

/// Why generation failed: the diagnostics, rendered, or an I/O problem.
#[derive(Debug)]
pub struct BuildError(String);

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BuildError {}

impl Builder {
    /// A builder with no input yet; it prints `cargo:rerun-if-changed` lines.
    #[must_use]
    pub fn new() -> Self {
        Self { files: Vec::new(), out_dir: None, rerun: true }
    }

    /// Adds a root `.svc` file (its imports are found from it).
    pub fn file(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.files.push(path.as_ref().to_path_buf());
        self
    }

    /// Writes to `dir` instead of `$OUT_DIR`.
    pub fn out_dir(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.out_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Whether to print `cargo:rerun-if-changed` for every `.svc` read (on by default).
    pub fn emit_rerun_if_changed(&mut self, on: bool) -> &mut Self {
        self.rerun = on;
        self
    }

    /// Checks the files, generates, and writes one `.rs` per package plus `svcgen.rs`.
    ///
    /// # Errors
    /// The rendered diagnostics when a file is invalid; an I/O error when writing fails.
    pub fn compile(&self) -> Result<Vec<GeneratedFile>, BuildError> {
        let out_dir = match &self.out_dir {
            Some(dir) => dir.clone(),
            None => std::env::var_os("OUT_DIR").map(PathBuf::from).ok_or_else(|| {
                BuildError("OUT_DIR is not set: run from a build script or set out_dir".into())
            })?,
        };
        let output = svcgen_idl::compile(&self.files, &svcgen_idl::RealFs);
        if self.rerun {
            for (_, file) in output.sources.iter() {
                println!("cargo:rerun-if-changed={}", file.path);
            }
        }
        let files = generate_from(&output).map_err(BuildError)?;
        std::fs::create_dir_all(&out_dir)
            .map_err(|e| BuildError(format!("cannot create {}: {e}", out_dir.display())))?;
        for file in &files {
            write_if_changed(&out_dir.join(file.file_name()), &file.source)?;
        }
        write_if_changed(&out_dir.join("svcgen.rs"), &out_dir_index(&files))?;
        Ok(files)
    }
}

/// Writes only when the contents differ, so an unchanged `.svc` does not rebuild the crate.
pub(crate) fn write_if_changed(path: &Path, contents: &str) -> Result<(), BuildError> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == contents) {
        return Ok(());
    }
    std::fs::write(path, contents).map_err(|e| BuildError(format!("cannot write {}: {e}", path.display())))
}
