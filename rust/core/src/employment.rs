//! Shift and attendance accounting (SPEC §7).
//!
//! Each day, an employed agent's shift moves through
//! `OffShift -> Pending -> OnTime | Late | Absent`: at the site by the shift
//! start is on time; arriving within the grace window after it is late
//! (lateness is charged per late tick); not there by the end of the grace
//! window is absent. Wages accrue only for ticks on shift *at the site*;
//! ticks away from it are withheld. With the job loop not enforced, wages
//! still follow presence but lateness and absences are not penalised.

use crate::codec::{Reader, Writer};
use crate::error::{CoreError, CoreResult};

/// Attendance state of today's shift; the codes are part of the Python contract.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Attendance {
    /// No shift right now (or no job).
    #[default]
    OffShift = 0,
    /// The shift has started; the agent has not arrived yet.
    Pending = 1,
    /// Arrived by the shift start.
    OnTime = 2,
    /// Arrived within the grace window.
    Late = 3,
    /// Not arrived by the end of the grace window.
    Absent = 4,
}

/// One job's terms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JobTerms {
    pub start_tick: u32,
    pub end_tick: u32,
    pub wage_rate: f64,
    pub lateness_penalty: f64,
}

impl JobTerms {
    /// Validates the shift window against the day length.
    pub fn validate(&self, ticks_per_day: u32) -> CoreResult<()> {
        if self.start_tick >= self.end_tick || self.end_tick > ticks_per_day {
            return Err(CoreError::InvalidArgument(format!(
                "shift {}..{} must be non-empty and within a {ticks_per_day}-tick day",
                self.start_tick, self.end_tick
            )));
        }
        if !(self.wage_rate.is_finite() && self.wage_rate >= 0.0 && self.lateness_penalty.is_finite()) {
            return Err(CoreError::InvalidArgument(
                "wage_rate and lateness_penalty must be finite".into(),
            ));
        }
        Ok(())
    }
}

/// What happened to one agent this tick.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TickOutcome {
    /// Money paid this tick (wage minus any lateness charge at clock-in).
    pub paid: f64,
    /// Clocked in this tick, with this state.
    pub clocked_in: Option<Attendance>,
    /// Marked absent this tick.
    pub absent: bool,
    /// The shift ended this tick.
    pub shift_ended: bool,
    /// Ticks late at clock-in (0 when on time).
    pub late_ticks: u32,
}

/// Per-agent attendance record.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Record {
    pub state: Attendance,
    pub arrived_tick: u32,
    pub shifts_scheduled: u32,
    pub shifts_attended: u32,
    pub late_ticks: u64,
    pub absences: u32,
    /// Bit i set: absent i days ago (bit 0 is today).
    pub absence_mask: u64,
    pub wages_earned: f64,
    pub wages_withheld: f64,
    pub lateness_charged: f64,
    pub last_wage_day: i64,
}

impl Record {
    /// Attended / scheduled shifts (1.0 before the first shift).
    pub fn attendance_ratio(&self) -> f64 {
        if self.shifts_scheduled == 0 {
            1.0
        } else {
            f64::from(self.shifts_attended) / f64::from(self.shifts_scheduled)
        }
    }

    /// Absences within the last `days` days.
    pub fn recent_absences(&self, days: u32) -> u32 {
        let mask = if days >= 64 { u64::MAX } else { (1u64 << days) - 1 };
        (self.absence_mask & mask).count_ones()
    }

    /// Shifts the absence window at the start of a new day.
    pub fn new_day(&mut self) {
        self.absence_mask <<= 1;
        self.state = Attendance::OffShift;
    }

    /// Advances one tick. `tod` is the tick of the day, `day` the day number,
    /// `at_site` whether the agent stands at its workplace, `grace` the
    /// grace window in ticks.
    pub fn tick(
        &mut self,
        job: &JobTerms,
        tod: u32,
        day: i64,
        at_site: bool,
        grace: u32,
        enforce: bool,
    ) -> TickOutcome {
        let mut out = TickOutcome::default();
        if tod < job.start_tick || tod >= job.end_tick {
            if tod == job.end_tick && self.state != Attendance::OffShift {
                out.shift_ended = true;
                self.state = Attendance::OffShift;
            }
            return out;
        }
        if tod == job.start_tick || self.state == Attendance::OffShift {
            self.state = Attendance::Pending;
            self.shifts_scheduled += 1;
        }
        if self.state == Attendance::Pending {
            let since_start = tod - job.start_tick;
            if at_site {
                let state = if since_start == 0 {
                    Attendance::OnTime
                } else {
                    Attendance::Late
                };
                self.state = state;
                self.arrived_tick = tod;
                self.shifts_attended += 1;
                out.clocked_in = Some(state);
                if state == Attendance::Late {
                    out.late_ticks = since_start;
                    self.late_ticks += u64::from(since_start);
                    if enforce {
                        let charge = job.lateness_penalty * f64::from(since_start);
                        self.lateness_charged += charge;
                        out.paid -= charge;
                    }
                }
            } else if since_start >= grace {
                self.state = Attendance::Absent;
                out.absent = true;
                if enforce {
                    self.absences += 1;
                    self.absence_mask |= 1;
                }
            }
        }
        let working = matches!(self.state, Attendance::OnTime | Attendance::Late);
        if working && at_site {
            out.paid += job.wage_rate;
            self.wages_earned += job.wage_rate;
            self.last_wage_day = day;
        } else {
            self.wages_withheld += job.wage_rate;
        }
        out
    }

    /// Serialises the record.
    pub fn encode(&self, w: &mut Writer) {
        w.u8(self.state as u8);
        w.u32(self.arrived_tick);
        w.u32(self.shifts_scheduled);
        w.u32(self.shifts_attended);
        w.u64(self.late_ticks);
        w.u32(self.absences);
        w.u64(self.absence_mask);
        w.f64(self.wages_earned);
        w.f64(self.wages_withheld);
        w.f64(self.lateness_charged);
        w.u64(self.last_wage_day as u64);
    }

    /// Restores a record written by [`Record::encode`].
    pub fn decode(r: &mut Reader<'_>) -> CoreResult<Record> {
        let state = match r.u8()? {
            0 => Attendance::OffShift,
            1 => Attendance::Pending,
            2 => Attendance::OnTime,
            3 => Attendance::Late,
            4 => Attendance::Absent,
            b => return Err(CoreError::InvalidArgument(format!("corrupt attendance state {b}"))),
        };
        Ok(Record {
            state,
            arrived_tick: r.u32()?,
            shifts_scheduled: r.u32()?,
            shifts_attended: r.u32()?,
            late_ticks: r.u64()?,
            absences: r.u32()?,
            absence_mask: r.u64()?,
            wages_earned: r.f64()?,
            wages_withheld: r.f64()?,
            lateness_charged: r.f64()?,
            last_wage_day: r.u64()? as i64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const JOB: JobTerms = JobTerms {
        start_tick: 100,
        end_tick: 200,
        wage_rate: 0.02,
        lateness_penalty: 0.005,
    };

    fn run_day(rec: &mut Record, arrive: Option<u32>, leave: u32, enforce: bool) -> f64 {
        rec.new_day();
        let mut paid = 0.0;
        for tod in 0..300 {
            let at_site = arrive.is_some_and(|a| tod >= a && tod < leave);
            paid += rec.tick(&JOB, tod, 0, at_site, 30, enforce).paid;
        }
        paid
    }

    #[test]
    fn on_time_full_shift_earns_the_day() {
        let mut rec = Record::default();
        let paid = run_day(&mut rec, Some(90), 300, true);
        assert!((paid - 2.0).abs() < 1e-9, "{paid}");
        assert_eq!((rec.shifts_attended, rec.shifts_scheduled, rec.absences), (1, 1, 0));
        assert!((rec.wages_withheld).abs() < 1e-12);
        assert_eq!(rec.state, Attendance::OffShift);
    }

    #[test]
    fn late_arrival_is_charged_and_withheld() {
        let mut rec = Record::default();
        let paid = run_day(&mut rec, Some(110), 300, true);
        // 90 ticks worked, 10 withheld, 10 late ticks charged.
        assert!((paid - (90.0 * 0.02 - 10.0 * 0.005)).abs() < 1e-9, "{paid}");
        assert_eq!(rec.late_ticks, 10);
        assert!((rec.wages_withheld - 0.2).abs() < 1e-9);
        assert!((rec.attendance_ratio() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn no_show_is_absent_after_grace() {
        let mut rec = Record::default();
        let paid = run_day(&mut rec, None, 0, true);
        assert!(paid.abs() < 1e-12);
        assert_eq!((rec.absences, rec.recent_absences(7)), (1, 1));
        assert!(rec.attendance_ratio() < 1e-12);
        // An arrival after the grace window does not turn absence into pay.
        let paid = run_day(&mut rec, Some(150), 300, true);
        assert!(paid.abs() < 1e-12);
        assert_eq!(rec.recent_absences(7), 2);
        assert_eq!(rec.recent_absences(1), 1);
    }

    #[test]
    fn leaving_mid_shift_withholds() {
        let mut rec = Record::default();
        let paid = run_day(&mut rec, Some(100), 150, true);
        assert!((paid - 1.0).abs() < 1e-9);
        assert!((rec.wages_withheld - 1.0).abs() < 1e-9);
    }

    #[test]
    fn unenforced_loop_pays_presence_without_penalties() {
        let mut rec = Record::default();
        let paid = run_day(&mut rec, Some(110), 300, false);
        assert!((paid - 90.0 * 0.02).abs() < 1e-9);
        run_day(&mut rec, None, 0, false);
        assert_eq!(rec.absences, 0);
        assert!(JobTerms {
            start_tick: 5,
            end_tick: 5,
            ..JOB
        }
        .validate(1000)
        .is_err());
        assert!(JOB.validate(150).is_err());
    }

    proptest! {
        #[test]
        fn books_balance(days in proptest::collection::vec((proptest::option::of(0u32..250), 0u32..300), 1..20)) {
            let mut rec = Record::default();
            let mut total = 0.0;
            for (arrive, leave) in days {
                total += run_day(&mut rec, arrive, leave, true);
            }
            // Every shift tick is either earned or withheld.
            let ticks = f64::from(rec.shifts_scheduled) * 100.0 * 0.02;
            prop_assert!((rec.wages_earned + rec.wages_withheld - ticks).abs() < 1e-6);
            prop_assert!((total - (rec.wages_earned - rec.lateness_charged)).abs() < 1e-6);
            prop_assert!(rec.shifts_attended + rec.absences == rec.shifts_scheduled);
            let mut w = Writer::new();
            rec.encode(&mut w);
            let bytes = w.into_bytes();
            prop_assert_eq!(Record::decode(&mut Reader::new(&bytes)).unwrap(), rec);
        }
    }
}
