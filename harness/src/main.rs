//! The `fabriclab` command line.

fn main() {
    println!("fabriclab: under construction");
}
