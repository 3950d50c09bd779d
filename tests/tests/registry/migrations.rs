use capstan_tests::{create_pg_database, drop_pg_database};

#[test]
fn sqlite_migrations_run_up_down_up() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("m.db").display());
    capstan_registry::store::redo_all_migrations(&url).unwrap();
}

#[test]
fn postgres_migrations_run_up_down_up() {
    let Ok(admin) = std::env::var("CAPSTAN_TEST_DATABASE_URL") else {
        // `.ci/run` runs the suite again with PostgreSQL configured; that pass covers this.
        eprintln!("CAPSTAN_TEST_DATABASE_URL is not set: PostgreSQL migrations not exercised");
        return;
    };
    let name = format!("capstan_m_{}", uuid::Uuid::new_v4().simple());
    let url = create_pg_database(&admin, &name);
    let result = capstan_registry::store::redo_all_migrations(&url);
    drop_pg_database(&admin, &name);
    result.unwrap();
}
