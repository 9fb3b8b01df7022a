svcgen::include_svc!("svc/bad.svc");

fn main() {}
