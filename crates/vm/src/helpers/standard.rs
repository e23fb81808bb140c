//! [`Helpers::standard`]: every helper of this crate at once.

use super::{HelperEnv, Helpers, checksum, control, packet, probe, strings, task, time, trace};

impl Helpers {
    /// The standard helpers (see the [module table](crate::helpers)) and
    /// the map helpers, under their kernel ids, reading the task, clocks,
    /// seed and trace sink from `env`.
    ///
    /// ```
    /// use visor_vm::{HelperEnv, Helpers, TaskInfo, TraceBuffer};
    ///
    /// let traces = TraceBuffer::new();
    /// let task = TaskInfo { pid: 42, tgid: 42, uid: 0, gid: 0, comm: "demo".into() };
    /// let env = HelperEnv::default().with_task(Some(task)).with_trace(traces.clone());
    /// let helpers = Helpers::standard(env);
    /// assert_eq!(helpers.name(6), Some("trace_printk"));
    /// assert_eq!(helpers.name(1), Some("map_lookup_elem"));
    /// ```
    pub fn standard(env: HelperEnv) -> Helpers {
        let mut helpers = Helpers::new();
        helpers.register_standard(&env);
        helpers
    }

    /// Registers what [`Helpers::standard`] does, replacing what was
    /// registered at those ids.
    pub fn register_standard(&mut self, env: &HelperEnv) {
        self.register_map_helpers();
        time::register(self, env);
        task::register(self, env);
        trace::register(self, env);
        probe::register(self);
        strings::register(self);
        checksum::register(self);
        packet::register(self);
        control::register(self);
    }
}
