// SPDX-License-Identifier: GPL-2.0

//! KUnit test suites declared in Rust.
//!
//! C header: [`include/kunit/test.h`](srctree/include/kunit/test.h)
//!
//! The `kernel` crate's doctests run as the `rust_doctests_kernel` suite.
//! Rust code elsewhere in the tree declares a suite of its own with
//! [`kunit_test_suite!`]; KUnit runs it at boot like a suite written in C.
//!
//! ```ignore
//! use kernel::kunit::suite::Test;
//!
//! fn addition_works(test: &mut Test) {
//!     test.expect(1 + 1 == 2, "1 + 1 == 2");
//! }
//!
//! kernel::kunit_test_suite!("example", [addition_works]);
//! ```
//!
//! [`kunit_test_suite!`]: crate::kunit_test_suite

use crate::{bindings, ffi::c_char, str::CStr};
use core::{panic::Location, ptr::NonNull};

/// The KUnit test case running on the current task.
///
/// # Invariants
///
/// `self.0` points to the `struct kunit` of a test case that is running on
/// the current task, and stays valid while this value exists: a `Test` is
/// neither [`Send`] nor [`Sync`], so it cannot leave the case's task.
pub struct Test(NonNull<bindings::kunit>);

impl Test {
    /// Wraps the `struct kunit` that KUnit passed to a case function.
    ///
    /// # Safety
    ///
    /// `test` must be the `struct kunit` of the case running on the current
    /// task, and the returned value must not outlive that case.
    pub unsafe fn from_raw(test: *mut bindings::kunit) -> Self {
        // INVARIANT: the caller guarantees that `test` is the running case.
        Self(NonNull::new(test).expect("KUnit passes a test case"))
    }

    /// Returns the test case running on the current task, if there is one.
    ///
    /// # Examples
    ///
    /// Doctests run as KUnit cases, so here there is one:
    ///
    /// ```
    /// use kernel::kunit::suite::Test;
    ///
    /// let mut test = Test::current().expect("doctests run in KUnit");
    /// assert!(test.expect(2 + 2 == 4, "2 + 2 == 4"));
    /// ```
    pub fn current() -> Option<Self> {
        // SAFETY: FFI call without safety requirements.
        let test = unsafe { bindings::kunit_get_current_test() };
        // INVARIANT: KUnit returns the case running on the current task,
        // which lasts at least as long as the caller's frame.
        NonNull::new(test).map(Self)
    }

    /// Checks an expectation: when `condition` is false, the case fails and
    /// `what` is logged with the caller's location.  The case goes on.
    ///
    /// Returns `condition`, so that a caller can stop early.
    #[track_caller]
    pub fn expect(&mut self, condition: bool, what: &str) -> bool {
        if !condition {
            let location = Location::caller();
            crate::pr_err!(
                "    # {}:{}: expectation failed: {}\n",
                location.file(),
                location.line(),
                what
            );
            // SAFETY: by the type invariant, `self.0` is the running case.
            unsafe { bindings::kunit_set_failure(self.0.as_ptr()) };
        }
        condition
    }
}

/// Builds one entry of a suite's case table.  Used by [`kunit_test_suite!`].
///
/// [`kunit_test_suite!`]: crate::kunit_test_suite
#[doc(hidden)]
pub const fn case(
    name: &'static CStr,
    run: unsafe extern "C" fn(*mut bindings::kunit),
) -> bindings::kunit_case {
    bindings::kunit_case {
        run_case: Some(run),
        name: name.as_char_ptr(),
        // SAFETY: all-zero is KUnit's "not yet run" state for the remaining
        // fields (null pointers, no parameters, default attributes).
        ..unsafe { core::mem::zeroed() }
    }
}

/// The all-zero entry that ends a suite's case table.
#[doc(hidden)]
pub const END: bindings::kunit_case =
    // SAFETY: KUnit ends case tables with an all-zero entry.
    unsafe { core::mem::zeroed() };

/// Builds a suite around a case table that ends with [`END`].  Used by
/// [`kunit_test_suite!`].
///
/// [`kunit_test_suite!`]: crate::kunit_test_suite
#[doc(hidden)]
pub const fn suite(name: &str, cases: *mut bindings::kunit_case) -> bindings::kunit_suite {
    // SAFETY: all-zero is KUnit's state for a suite that has not run.
    let mut suite: bindings::kunit_suite = unsafe { core::mem::zeroed() };
    let bytes = name.as_bytes();
    // Keep the terminating NUL: the name must be shorter than the array.
    assert!(bytes.len() < suite.name.len(), "KUnit suite name too long");
    let mut i = 0;
    while i < bytes.len() {
        suite.name[i] = bytes[i] as c_char;
        i += 1;
    }
    suite.test_cases = cases;
    suite
}

/// Declares a KUnit suite of Rust test cases and registers it with KUnit.
///
/// Each case is a function `fn(&mut Test)` in scope where the macro is
/// used; it is reported under its own name.  A built-in suite runs at boot.
///
/// See the [module documentation](crate::kunit::suite) for an example.
#[macro_export]
macro_rules! kunit_test_suite {
    ($name:literal, [$($case:ident),+ $(,)?]) => {
        const _: () = {
            static mut CASES: [$crate::bindings::kunit_case;
                               [$(stringify!($case)),+].len() + 1] = [
                $(
                    $crate::kunit::suite::case($crate::c_str!(stringify!($case)), {
                        unsafe extern "C" fn run(test: *mut $crate::bindings::kunit) {
                            // SAFETY: KUnit passes the case it is running on
                            // this task; `test` does not outlive this call.
                            let mut test = unsafe {
                                $crate::kunit::suite::Test::from_raw(test)
                            };
                            $case(&mut test);
                        }
                        run
                    }),
                )+
                $crate::kunit::suite::END,
            ];

            static mut SUITE: $crate::bindings::kunit_suite =
                $crate::kunit::suite::suite($name, &raw mut CASES as *mut _);

            // KUnit finds built-in suites through this section, as it does
            // for C's `kunit_test_suites()`.
            #[used]
            #[link_section = ".kunit_test_suites"]
            static mut ENTRY: *mut $crate::bindings::kunit_suite = &raw mut SUITE;
        };
    };
}
