//! The `svcgen` command line: `check`, `fmt`, `model`.
//!
//! Exit codes: 0 when everything is valid (and, for `fmt --check`, formatted), 1 when an
//! input is invalid or would be reformatted, 2 for usage errors.

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use svcgen_idl::{FileId, RealFs, Severity, SourceMap, compile, fmt};

const EXAMPLES: &str = "\
Examples:
  svcgen check shop.svc                      check a file and everything it imports
  svcgen check --message-format json *.svc   one JSON object per diagnostic, for editors
  svcgen fmt shop.svc money.svc              rewrite files in the canonical layout
  svcgen fmt --check examples/**/*.svc       list files that are not formatted (CI)
  cat shop.svc | svcgen fmt -                format standard input to standard output
  svcgen model shop.svc > shop.model.json    the resolved model, for tooling
  svcgen generate shop.svc -o src/generated  Rust for every package, plus a mod.rs
  svcgen openapi shop.svc --format yaml      the OpenAPI 3.1 document of the REST binding
  svcgen asyncapi shop.svc                   the AsyncAPI 3.0 document of the queue binding
  svcgen doc shop.svc -o target/api-doc      HTML and Markdown API reference";

/// svcgen: one interface definition, Rust services and clients for REST, RPC, queue and socket.
#[derive(Debug, Parser)]
#[command(name = "svcgen", version, about, after_help = EXAMPLES)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check .svc files (and their imports) and report every problem.
    #[command(after_help = "Exit status: 0 valid, 1 invalid, 2 usage error.")]
    Check {
        /// The files to check.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// How to print diagnostics.
        #[arg(long, value_enum, default_value_t = MessageFormat::Human)]
        message_format: MessageFormat,
        /// Treat warnings as errors.
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Rewrite .svc files in the canonical layout, keeping every comment.
    #[command(after_help = "With `-` as the only FILE, reads standard input and writes standard output.\n\
                            Exit status: 0 done (or, with --check, all formatted), 1 syntax errors or\n\
                            (with --check) files that would change, 2 usage error.")]
    Fmt {
        /// The files to format, or `-` for standard input.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Change nothing; print a diff of each file that is not formatted and exit 1.
        #[arg(long)]
        check: bool,
    },
    /// Print the resolved model as JSON.
    Model {
        /// The files to load (with their imports) into one model.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Generate Rust: one file per package (`shop.catalog` → `shop_catalog.rs`) and a `mod.rs`.
    #[command(after_help = "Include the folder as a module (`mod generated;`), or a single file with\n\
                            `include!`. Packages refer to each other as sibling modules.")]
    Generate {
        /// The root files (their imports are generated too).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// The folder to write into (created if missing).
        #[arg(short, long, value_name = "DIR")]
        out_dir: PathBuf,
    },
    /// Print the `OpenAPI` 3.1 document of the REST binding.
    Openapi {
        /// The files, the format and where to write.
        #[command(flatten)]
        document: DocumentArgs,
    },
    /// Print the `AsyncAPI` 3.0 document of the queue binding (methods and events).
    Asyncapi {
        /// The files, the format and where to write.
        #[command(flatten)]
        document: DocumentArgs,
        /// A broker to list under `servers` (`nats://host:4222`, `amqp://host:5672`); repeatable.
        #[arg(long, value_name = "URL")]
        server: Vec<String>,
    },
    /// Write the API reference: HTML and Markdown, one page per package and an index.
    Doc {
        /// The root files (their imports are documented too).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// The folder to write into (created if missing).
        #[arg(short, long, value_name = "DIR")]
        out_dir: PathBuf,
    },
}

/// What a document command reads and where it writes.
#[derive(Debug, clap::Args)]
pub struct DocumentArgs {
    /// The root files.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// JSON or YAML (default: from the `-o` extension, else JSON).
    #[arg(long, value_enum)]
    format: Option<DocFormat>,
    /// Write here instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// The API version to state in `info.version`.
    #[arg(long, value_name = "VERSION")]
    api_version: Option<String>,
}

/// A document format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DocFormat {
    /// JSON.
    Json,
    /// YAML.
    Yaml,
}

/// How diagnostics are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MessageFormat {
    /// For people: `path:line:col: error: message`, the line, a caret, notes and help.
    Human,
    /// For tools: one JSON object per line.
    Json,
}

/// Runs the command line and returns the exit code.
#[must_use]
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    let code = run(cli, &mut stdout, &mut stderr);
    let _ = stdout.flush();
    ExitCode::from(code)
}

/// Runs a parsed command line against the real file system, writing to the given streams.
pub fn run(cli: Cli, out: &mut dyn std::io::Write, err: &mut dyn std::io::Write) -> u8 {
    match cli.command {
        Command::Check { files, message_format, deny_warnings } => {
            check(&files, message_format, deny_warnings, out, err)
        }
        Command::Fmt { files, check } => format_files(&files, check, out, err),
        Command::Model { files } => model(&files, out, err),
        Command::Generate { files, out_dir } => generate(&files, &out_dir, out, err),
        Command::Doc { files, out_dir } => doc(&files, &out_dir, out, err),
        Command::Openapi { document } => openapi(document, out, err),
        Command::Asyncapi { document, server } => asyncapi(document, &server, out, err),
    }
}

fn generate(
    files: &[PathBuf],
    out_dir: &std::path::Path,
    out: &mut dyn std::io::Write,
    err: &mut dyn std::io::Write,
) -> u8 {
    let output = compile(files, &RealFs);
    let _ = write!(err, "{}", output.render_diagnostics());
    let Ok(generated) = crate::rust::generate_from(&output) else { return 1 };
    let mut written: Vec<(String, String)> =
        generated.iter().map(|f| (f.file_name(), f.source.clone())).collect();
    written.push(("mod.rs".to_owned(), crate::rust::module_index(&generated)));
    write_files(out_dir, written, out, err)
}

fn doc(
    files: &[PathBuf],
    out_dir: &std::path::Path,
    out: &mut dyn std::io::Write,
    err: &mut dyn std::io::Write,
) -> u8 {
    let compiled = compile(files, &RealFs);
    let _ = write!(err, "{}", compiled.render_diagnostics());
    let Some(model) = &compiled.model else { return 1 };
    match crate::doc::render(model) {
        Ok(pages) => write_files(out_dir, pages.into_iter().map(|p| (p.path, p.contents)), out, err),
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            1
        }
    }
}

/// Writes `(file name, contents)` pairs into `dir` (created if missing), naming each on `out`.
fn write_files(
    dir: &std::path::Path,
    files: impl IntoIterator<Item = (String, String)>,
    out: &mut dyn std::io::Write,
    err: &mut dyn std::io::Write,
) -> u8 {
    if let Err(e) = std::fs::create_dir_all(dir) {
        let _ = writeln!(err, "error: cannot create `{}`: {e}", dir.display());
        return 1;
    }
    for (name, contents) in files {
        let path = dir.join(name);
        if let Err(e) = std::fs::write(&path, contents) {
            let _ = writeln!(err, "error: cannot write `{}`: {e}", path.display());
            return 1;
        }
        let _ = writeln!(out, "wrote {}", path.display());
    }
    0
}

fn openapi(args: DocumentArgs, out: &mut dyn std::io::Write, err: &mut dyn std::io::Write) -> u8 {
    let compiled = compile(&args.files, &RealFs);
    let _ = write!(err, "{}", compiled.render_diagnostics());
    let Some(model) = &compiled.model else { return 1 };
    let mut doc = crate::openapi::openapi(model);
    if let Some(version) = args.api_version {
        doc.info.version = version;
    }
    let written = Written { format: args.format, output: args.output.as_deref() };
    written.write(&doc.to_json(), || doc.to_yaml(), out, err)
}

fn asyncapi(
    args: DocumentArgs,
    servers: &[String],
    out: &mut dyn std::io::Write,
    err: &mut dyn std::io::Write,
) -> u8 {
    let compiled = compile(&args.files, &RealFs);
    let _ = write!(err, "{}", compiled.render_diagnostics());
    let Some(model) = &compiled.model else { return 1 };
    let mut doc = crate::asyncapi::asyncapi(model);
    if let Some(version) = args.api_version {
        doc.info.version = version;
    }
    for url in servers {
        let Some((name, server)) = crate::asyncapi::Server::from_url(url) else {
            let _ = writeln!(err, "error: `{url}` is not a nats://host:port or amqp://host:port URL");
            return 2;
        };
        doc.servers.insert(name, server);
    }
    let written = Written { format: args.format, output: args.output.as_deref() };
    written.write(&doc.to_json(), || doc.to_yaml(), out, err)
}

/// Where and how a document is written.
struct Written<'a> {
    format: Option<DocFormat>,
    output: Option<&'a std::path::Path>,
}

impl Written<'_> {
    /// Writes the document (JSON, or YAML when asked for or the file ends in `.yaml`).
    fn write(
        &self,
        json: &str,
        yaml: impl FnOnce() -> Result<String, crate::openapi::YamlError>,
        out: &mut dyn std::io::Write,
        err: &mut dyn std::io::Write,
    ) -> u8 {
        let as_yaml = match self.format {
            Some(f) => f == DocFormat::Yaml,
            None => self.output.and_then(|p| p.extension()).is_some_and(|e| e == "yaml" || e == "yml"),
        };
        let text = if as_yaml {
            match yaml() {
                Ok(text) => text,
                Err(e) => {
                    let _ = writeln!(err, "error: cannot write YAML: {e}");
                    return 1;
                }
            }
        } else {
            json.to_owned()
        };
        match self.output {
            Some(path) => {
                if let Err(e) = std::fs::write(path, text) {
                    let _ = writeln!(err, "error: cannot write `{}`: {e}", path.display());
                    return 1;
                }
            }
            None => {
                let _ = write!(out, "{text}");
            }
        }
        0
    }
}

fn check(
    files: &[PathBuf],
    format: MessageFormat,
    deny_warnings: bool,
    out: &mut dyn std::io::Write,
    err: &mut dyn std::io::Write,
) -> u8 {
    let output = compile(files, &RealFs);
    let errors = output.diagnostics.iter().filter(|d| d.severity == Severity::Error).count();
    let warnings = output.diagnostics.len() - errors;
    match format {
        MessageFormat::Human => {
            let _ = write!(err, "{}", output.render_diagnostics());
            let summary = match (errors, warnings) {
                (0, 0) => None,
                (0, w) => Some(format!("{w} warning{}", plural(w))),
                (e, 0) => Some(format!("{e} error{}", plural(e))),
                (e, w) => Some(format!("{e} error{} and {w} warning{}", plural(e), plural(w))),
            };
            if let Some(summary) = summary {
                let files = output.sources.iter().count();
                if files == 0 {
                    let _ = writeln!(err, "{summary}");
                } else {
                    let _ = writeln!(err, "{summary} in {files} file{}", plural(files));
                }
            }
        }
        MessageFormat::Json => {
            for d in &output.diagnostics {
                let _ = writeln!(out, "{}", d.to_json(&output.sources));
            }
        }
    }
    u8::from(errors > 0 || (deny_warnings && warnings > 0))
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn format_files(
    files: &[PathBuf],
    check: bool,
    out: &mut dyn std::io::Write,
    err: &mut dyn std::io::Write,
) -> u8 {
    if files.len() == 1 && files[0].as_os_str() == "-" {
        let mut text = String::new();
        if let Err(e) = std::io::stdin().read_to_string(&mut text) {
            let _ = writeln!(err, "error: cannot read standard input: {e}");
            return 1;
        }
        return match format_text("<stdin>", &text, err) {
            Some(formatted) => {
                let _ = write!(out, "{formatted}");
                u8::from(check && formatted != text)
            }
            None => 1,
        };
    }
    let mut status = 0;
    for path in files {
        let display = path.display().to_string();
        let text = match std::fs::read(path).map(String::from_utf8) {
            Ok(Ok(text)) => text,
            Ok(Err(_)) => {
                let _ = writeln!(err, "{display}: error: file is not valid UTF-8");
                status = 1;
                continue;
            }
            Err(e) => {
                let _ = writeln!(err, "error: cannot read `{display}`: {e}");
                status = 1;
                continue;
            }
        };
        let Some(formatted) = format_text(&display, &text, err) else {
            status = 1;
            continue;
        };
        if formatted == text {
            continue;
        }
        if check {
            let diff = similar::TextDiff::from_lines(&text, &formatted);
            let _ = write!(
                out,
                "{}",
                diff.unified_diff().context_radius(2).header(&display, &format!("{display} (formatted)"))
            );
            status = 1;
        } else if let Err(e) = std::fs::write(path, &formatted) {
            let _ = writeln!(err, "error: cannot write `{display}`: {e}");
            status = 1;
        }
    }
    status
}

/// Formats one text; prints its syntax errors and returns `None` when it has some.
fn format_text(display: &str, text: &str, err: &mut dyn std::io::Write) -> Option<String> {
    match fmt::format_source(FileId(0), text) {
        Ok(formatted) => Some(formatted),
        Err(diagnostics) => {
            let mut sources = SourceMap::new();
            sources.add(display, text);
            for d in diagnostics {
                let _ = writeln!(err, "{}", d.render(&sources));
            }
            None
        }
    }
}

fn model(files: &[PathBuf], out: &mut dyn std::io::Write, err: &mut dyn std::io::Write) -> u8 {
    let output = compile(files, &RealFs);
    let _ = write!(err, "{}", output.render_diagnostics());
    match &output.model {
        Some(model) => match serde_json::to_string_pretty(model) {
            Ok(json) => {
                let _ = writeln!(out, "{json}");
                0
            }
            Err(e) => {
                let _ = writeln!(err, "error: cannot serialise the model: {e}");
                1
            }
        },
        None => 1,
    }
}
