// SPDX-License-Identifier: GPL-2.0

//! The `page_states=` boot parameter: how much the guest tells its host.

use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use kernel::{error::code::EINVAL, prelude::*, str::CStr};

/// What the page-state core does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Nothing: no page state is set, not even unused (`page_states=off`).
    Off = 0,
    /// Free pages are unused, all others stable: mainline s390's CMMA
    /// behaviour, and the default (`page_states=unused`).
    Unused = 1,
    /// Clean page cache also becomes volatile (`page_states=volatile`).
    Volatile = 2,
}

/// The default is `unused`: it is what mainline s390 does and is safe on
/// every hypervisor.  Volatile states are an opt-in, because a host that
/// drops a volatile page must raise a discard fault when the guest
/// touches it, and KVM hands back a zero page instead.
static MODE: AtomicU8 = AtomicU8::new(Mode::Unused as u8);

/// Whether the user vouched, with `page_states_discard_faults=on`, that
/// the hypervisor behind ESSA delivers discard faults.  No hypervisor says
/// so itself (KVM accepts volatile states and hands back zero pages), so
/// without the opt-in the ESSA backend keeps to unused and stable.
static DISCARD_FAULTS: AtomicBool = AtomicBool::new(false);

impl Mode {
    /// The mode in force.
    #[inline]
    pub(crate) fn current() -> Self {
        match MODE.load(Ordering::Relaxed) {
            0 => Mode::Off,
            1 => Mode::Unused,
            _ => Mode::Volatile,
        }
    }

    /// Falls back to `mode` before the core starts, when the machine cannot
    /// do what the boot parameter asked for.
    pub(crate) fn fall_back(mode: Mode) {
        MODE.store(mode as u8, Ordering::Relaxed);
    }

    /// The mode a boot parameter value names.
    pub(crate) fn parse(value: &[u8]) -> Result<Self> {
        match value {
            b"off" => Ok(Mode::Off),
            b"unused" => Ok(Mode::Unused),
            b"volatile" => Ok(Mode::Volatile),
            _ => Err(EINVAL),
        }
    }

    /// The mode's name, as the boot parameter and sysfs spell it.
    pub(crate) fn name(self) -> &'static CStr {
        match self {
            Mode::Off => kernel::c_str!("off"),
            Mode::Unused => kernel::c_str!("unused"),
            Mode::Volatile => kernel::c_str!("volatile"),
        }
    }
}

/// Sets the mode from the `page_states=` boot parameter, which is parsed
/// before the core starts.  An unknown value changes nothing and returns
/// `-EINVAL`, so that the kernel reports the parameter as malformed.
///
/// # Safety
///
/// `value` must be NULL or a NUL-terminated string.
#[no_mangle]
pub(crate) unsafe extern "C" fn page_states_parse_mode(value: *const kernel::ffi::c_char) -> i32 {
    // SAFETY: the caller passes NULL or a NUL-terminated string.
    let value = unsafe { param_value(value) };
    match Mode::parse(value) {
        Ok(mode) => {
            MODE.store(mode as u8, Ordering::Relaxed);
            0
        }
        Err(e) => {
            pr_err!(
                "page_states=: unknown mode {:?}, expected off, unused or volatile; keeping {}\n",
                kernel::str::BStr::from_bytes(value),
                Mode::current().name()
            );
            e.to_errno()
        }
    }
}

/// Whether ESSA's hypervisor delivers discard faults, as the user said
/// with `page_states_discard_faults=`.
pub(crate) fn discard_faults_delivered() -> bool {
    DISCARD_FAULTS.load(Ordering::Relaxed)
}

/// Parses `page_states_discard_faults=`: `on` (or no value) and `off`.
/// Anything else changes nothing and returns `-EINVAL`.
///
/// # Safety
///
/// `value` must be NULL or a NUL-terminated string.
#[no_mangle]
pub(crate) unsafe extern "C" fn page_states_parse_discard_faults(
    value: *const kernel::ffi::c_char,
) -> i32 {
    // SAFETY: the caller passes NULL or a NUL-terminated string.
    let value = unsafe { param_value(value) };
    let on = match value {
        b"" | b"on" => true,
        b"off" => false,
        _ => {
            pr_err!(
                "page_states_discard_faults=: expected on or off, not {:?}; keeping {}\n",
                kernel::str::BStr::from_bytes(value),
                if discard_faults_delivered() {
                    "on"
                } else {
                    "off"
                }
            );
            return EINVAL.to_errno();
        }
    };
    DISCARD_FAULTS.store(on, Ordering::Relaxed);
    0
}

/// The bytes of a boot parameter's value; empty for a parameter given
/// without one (NULL).
///
/// # Safety
///
/// `value` must be NULL or a NUL-terminated string that outlives the
/// returned slice.
unsafe fn param_value<'a>(value: *const kernel::ffi::c_char) -> &'a [u8] {
    if value.is_null() {
        &b""[..]
    } else {
        // SAFETY: the caller passes a NUL-terminated string that outlives
        // the slice.
        unsafe { CStr::from_char_ptr(value) }.as_bytes()
    }
}
