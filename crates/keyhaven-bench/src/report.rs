//! The report: one line per scenario, rates next to their limit.

use crate::load::Outcome;

pub fn print(setup: &str, signing_rate: f64, rows: &[Outcome]) {
    println!("keyhaven-bench: {setup}");
    println!("raw ES256 signing, one thread: {signing_rate:.0}/s");
    println!();
    println!("| scenario | req/s | p50 ms | p99 ms | errors | limit/s | fraction of limit |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        let (limit, fraction) = match row.limit {
            Some(limit) => (
                format!("{limit:.0}"),
                format!("{:.0} %", 100.0 * row.rate() / limit),
            ),
            None => ("-".to_owned(), "-".to_owned()),
        };
        println!(
            "| {} | {:.0} | {:.2} | {:.2} | {} | {limit} | {fraction} |",
            row.name,
            row.rate(),
            row.percentile(0.50).as_secs_f64() * 1000.0,
            row.percentile(0.99).as_secs_f64() * 1000.0,
            row.errors,
        );
    }
}
