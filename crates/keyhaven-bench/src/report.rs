//! The report: the raw JOSE rates first, then one line per scenario, its rate next to
//! its limit, and what the first failure of each scenario said.

use crate::load::Outcome;
use crate::signing::{Rate, Rates};

pub fn print(setup: &str, rates: &Rates, rows: &[Outcome]) {
    println!("keyhaven-bench: {setup}");
    println!();
    println!(
        "| raw JOSE, per second | one thread | {} cores |",
        rates.cores
    );
    println!("|---|---:|---:|");
    let raw = |name: &str, rate: Rate| {
        println!(
            "| {name} | {:.0} | {:.0} |",
            rate.one_thread, rate.all_cores
        );
    };
    raw("ES256 sign", rates.es256_sign);
    raw("RS256 sign", rates.rs256_sign);
    raw("ES256 verify", rates.es256_verify);
    println!();
    println!(
        "| scenario | per s | p50 ms | p90 ms | p99 ms | errors | needs | limit/s | fraction of limit |"
    );
    println!("|---|---:|---:|---:|---:|---:|---|---:|---:|");
    for row in rows {
        let (needs, limit, fraction) = match &row.limit {
            Some((limit, needs)) => (
                needs.as_str(),
                format!("{limit:.0}"),
                format!("{:.1} %", 100.0 * row.rate() / limit),
            ),
            None => ("-", "-".to_owned(), "-".to_owned()),
        };
        let ms = |p| format!("{:.2}", row.percentile(p).as_secs_f64() * 1000.0);
        println!(
            "| {} | {:.0} | {} | {} | {} | {} | {needs} | {limit} | {fraction} |",
            row.name,
            row.rate(),
            ms(0.50),
            ms(0.90),
            ms(0.99),
            row.errors,
        );
    }
    println!();
    println!(
        "limit: 1 / sum of 1 / (rate on all cores) over the operations one iteration needs; \
         an iteration of code_flow is the authorization request and the code exchange."
    );
    for row in rows {
        if let Some(error) = &row.first_error {
            println!("first error of {}: {error}", row.name);
        }
    }
}
