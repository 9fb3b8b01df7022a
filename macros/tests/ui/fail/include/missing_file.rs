svcgen::include_svc!("svc/missing.svc");

fn main() {}
