//! `report RUN_ID`: the page a planner forwards — one self-contained HTML
//! file with the inputs, the key figures, the charts and the sources of
//! every catalogue figure — and, with `--charts DIR`, each chart as its own
//! SVG or PNG file.
//!
//! The run's numbers are recomputed here, by [`crate::grpc::report_of`],
//! from the inputs the server kept with it: the same code on the same
//! inputs, so the same numbers bit for bit.

use std::path::PathBuf;

use super::exit::Failure;
use super::{Global, connect};
use crate::grpc::pb;
use crate::grpc::pb::run_service_client::RunServiceClient;
use crate::report::{self, Format, Report};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The kept run to report on.
    run_id: String,
    /// Where to write the page.
    #[arg(long, default_value = "report.html")]
    out: PathBuf,
    /// Also write every chart into this directory.
    #[arg(long, value_name = "DIR")]
    charts: Option<PathBuf>,
    /// Format of the chart files.
    #[arg(long, value_enum, default_value = "svg")]
    chart_format: ChartFormat,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ChartFormat {
    Svg,
    Png,
}

pub async fn run(global: &Global, args: Args) -> Result<(), Failure> {
    let mut client = RunServiceClient::new(connect(global).await?);
    let run = client
        .get_run(pb::GetRunRequest {
            id: args.run_id.clone(),
        })
        .await?
        .into_inner();
    let report = tokio::task::spawn_blocking(move || build(&run))
        .await
        .map_err(|e| Failure::Local(format!("building the report failed: {e}")))??;
    write(&args.out, report::html(&report).as_bytes())?;
    eprintln!("wrote {}", args.out.display());
    if let Some(dir) = &args.charts {
        std::fs::create_dir_all(dir)
            .map_err(|e| Failure::Local(format!("cannot create {}: {e}", dir.display())))?;
        let (format, extension) = match args.chart_format {
            ChartFormat::Svg => (Format::Svg, "svg"),
            ChartFormat::Png => (Format::Png, "png"),
        };
        for (name, chart) in report::charts(&report, format) {
            let path = dir.join(format!("{name}.{extension}"));
            match chart {
                Ok(bytes) => {
                    write(&path, &bytes)?;
                    eprintln!("wrote {}", path.display());
                }
                Err(e) => eprintln!("skipped {}: {e}", path.display()),
            }
        }
    }
    Ok(())
}

fn write(path: &std::path::Path, bytes: &[u8]) -> Result<(), Failure> {
    std::fs::write(path, bytes)
        .map_err(|e| Failure::Local(format!("cannot write {}: {e}", path.display())))
}

/// The report of a kept run, recomputed from its stored inputs.
pub fn build(run: &pb::Run) -> Result<Report, Failure> {
    crate::grpc::report_of(run)
        .map_err(|e| Failure::Local(format!("recomputing run {}: {e}", run.id)))
}
