//! Integration tests of busbar-governance, one binary:
//!
//! - `suite`: the rules, written once, run on every backend;
//! - `holds`: reservations from admission to settlement, on every backend;
//! - `ledger`: amounts priced by the caller, and the spend ledger and its
//!   report, on every backend;
//! - `race`: exactness under concurrency, also run on every backend;
//! - `sqlite`: the SQLite runs plus threads on one file, the file revealing
//!   no key, `kill -9`, fail-open/closed, and opening from configuration;
//! - `postgres`: the PostgreSQL runs plus two replicas on one database,
//!   `#[ignore]`d: run them with `BUSBAR_TEST_POSTGRES` set and
//!   `-- --include-ignored` (`.ci/postgres.sh` does);
//! - `support`: fresh stores and the manual clock.

/// Runs the named `suite`/`race` functions as tests on one backend, each
/// with the attributes in the leading brackets (PostgreSQL's `#[ignore]`).
/// The brackets travel as one token tree, so every test gets them all.
macro_rules! suite {
    (@test [$(#[$attr:meta])*] $backend:expr; $module:ident :: $name:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $(#[$attr])*
        async fn $name() {
            crate::$module::$name($backend).await;
        }
    };
    ($attrs:tt $backend:expr; $($module:ident :: $name:ident),* $(,)?) => {$(
        suite!(@test $attrs $backend; $module::$name);
    )*};
}

/// The suite every backend runs, with the attributes in the brackets.
macro_rules! full_suite {
    ($attrs:tt $backend:expr) => {
        suite!($attrs $backend;
            suite::admin_lifecycle,
            suite::identify_admits_nothing_and_follows_changes,
            suite::checks_run_in_contract_order,
            holds::reservations_settle_to_real_usage,
            suite::daily_budget_rolls_over_at_utc_midnight,
            suite::monthly_budget_rolls_over_on_the_first,
            suite::rpm_is_a_sliding_minute,
            suite::tpm_counts_settled_tokens,
            holds::unsettled_reservations_lapse,
            holds::dropped_admissions_are_released,
            holds::renewal_keeps_a_long_stream_held,
            holds::a_dead_processes_reservations_are_released,
            holds::a_restart_frees_the_crashed_processes_holds,
            suite::sealed_secrets_recover_for_sigv4,
            ledger::explicit_amounts_are_reserved_and_charged,
            ledger::the_ledger_groups_spend_by_key_model_lane_and_day,
            race::budget_is_exact_under_concurrency,
            race::rpm_is_exact_under_concurrency,
        );
    };
}

mod holds;
mod ledger;
mod postgres;
mod race;
mod sqlite;
mod suite;
mod support;
