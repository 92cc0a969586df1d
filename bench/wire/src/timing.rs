//! Wall-clock measurement: calibrate each cell to run for at least the minimum time, then run
//! every cell once per round (rounds interleave the cells, so a noisy neighbour on the shared
//! machine hits both codecs alike) and keep the median per cell.

use std::time::{Duration, Instant};

/// A benchmark body: runs the measured operation `n` times. The loop lives inside the closure so
/// the operation is inlined; only the batch call is dynamic.
pub type Body<'a> = Box<dyn FnMut(u64) + 'a>;

/// Wraps one operation into a [`Body`].
pub fn body<'a>(mut op: impl FnMut() + 'a) -> Body<'a> {
    Box::new(move |n| {
        for _ in 0..n {
            op();
        }
    })
}

/// The result for one cell.
#[derive(Debug, Clone, Copy)]
pub struct Measurement {
    /// Median nanoseconds per operation over the rounds.
    pub ns_per_op: f64,
    /// (slowest − fastest) / median over the rounds: how noisy the cell was.
    pub spread: f64,
}

/// How long and how often to measure.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Minimum wall time of one cell in one round.
    pub min_time: Duration,
    /// Rounds (the median is taken over them).
    pub rounds: usize,
}

/// Iterations of `body` that take at least `min_time` (also serves as warm-up).
fn calibrate(body: &mut Body<'_>, min_time: Duration) -> u64 {
    let probe = (min_time / 10).max(Duration::from_millis(5));
    let mut n: u64 = 1;
    loop {
        let t = Instant::now();
        body(n);
        let el = t.elapsed();
        if el >= probe {
            let per_op = el.as_secs_f64() / n as f64;
            // 10% headroom so a round does not fall just short of min_time.
            let want = min_time.as_secs_f64() * 1.1 / per_op;
            return (want.ceil() as u64).max(1);
        }
        n = n.saturating_mul(2);
    }
}

/// Measures every body by `plan`; results are in the order of `bodies`.
pub fn measure_all(bodies: &mut [Body<'_>], plan: Plan) -> Vec<Measurement> {
    let iters: Vec<u64> = bodies
        .iter_mut()
        .map(|b| calibrate(b, plan.min_time))
        .collect();
    let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(plan.rounds); bodies.len()];
    for _ in 0..plan.rounds.max(1) {
        for ((b, &n), s) in bodies.iter_mut().zip(&iters).zip(samples.iter_mut()) {
            let t = Instant::now();
            b(n);
            s.push(t.elapsed().as_nanos() as f64 / n as f64);
        }
    }
    samples.into_iter().map(summarise).collect()
}

fn summarise(mut s: Vec<f64>) -> Measurement {
    s.sort_by(f64::total_cmp);
    let median = median_sorted(&s);
    let spread = match (s.first(), s.last()) {
        (Some(lo), Some(hi)) if median > 0.0 => (hi - lo) / median,
        _ => 0.0,
    };
    Measurement {
        ns_per_op: median,
        spread,
    }
}

fn median_sorted(s: &[f64]) -> f64 {
    let mid = s.len() / 2;
    match (
        s.len() % 2,
        s.get(mid),
        mid.checked_sub(1).and_then(|i| s.get(i)),
    ) {
        (1, Some(m), _) => *m,
        (0, Some(hi), Some(lo)) => (hi + lo) / 2.0,
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_spread() {
        let m = summarise(vec![30.0, 10.0, 20.0]);
        assert_eq!(m.ns_per_op, 20.0);
        assert_eq!(m.spread, 1.0);
        let m = summarise(vec![4.0, 1.0, 3.0, 2.0]);
        assert_eq!(m.ns_per_op, 2.5);
        assert_eq!(summarise(Vec::new()).ns_per_op, 0.0);
    }

    #[test]
    fn measures_slower_work_as_slower() {
        let plan = Plan {
            min_time: Duration::from_millis(20),
            rounds: 3,
        };
        let work = |k: u64| {
            move || {
                let mut x = 0u64;
                for i in 0..k {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
                }
                std::hint::black_box(x);
            }
        };
        let mut bodies = vec![body(work(10)), body(work(1000))];
        let r = measure_all(&mut bodies, plan);
        let (fast, slow) = (r[0].ns_per_op, r[1].ns_per_op);
        assert!(slow > fast * 5.0, "fast {fast} ns, slow {slow} ns");
    }
}
