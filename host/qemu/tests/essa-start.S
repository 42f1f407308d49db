/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Start-up, program-check handling and the instruction probes of essa-test.
 *
 * QEMU starts an ELF given with -kernel at its entry in 64-bit mode with
 * DAT and all interruptions off, so _start only needs a stack and a clean
 * .bss before it calls main0.
 */
#include "essa-test.h"

/* ESSA %r4,%r2,m3 (RRF: opcode 0xb9ab, M3 in bits 16-19, R1, R2). */
#define ESSA_R4_R2(m3)	(0xb9ab0042 | ((m3) << 12))

/*
 * clang -march=z13 keeps data in vector registers: enable them (and the
 * additional floating-point registers) in CR0, bits 45 and 46.
 */
	.macro	ENABLE_VECTOR
	stctg	%c0, %c0, 0(%r15)
	oi	5(%r15), 0x06
	lctlg	%c0, %c0, 0(%r15)
	.endm

	.section .text.start, "ax"
	.globl	_start
_start:
	larl	%r2, __bss_start
	larl	%r3, __bss_end
.Lclear:
	clgr	%r2, %r3
	jhe	.Lcleared
	mvghi	0(%r2), 0
	la	%r2, 8(%r2)
	j	.Lclear
.Lcleared:
	larl	%r15, stack0
	aghi	%r15, STACK_SIZE - 160
	ENABLE_VECTOR
	brasl	%r14, main0
	j	.

/* CPU 1 arrives here through its restart-new PSW (SIGP RESTART). */
	.globl	cpu1_entry
cpu1_entry:
	larl	%r15, stack1
	aghi	%r15, STACK_SIZE - 160
	ENABLE_VECTOR
	brasl	%r14, main1
	j	.

	.text
/*
 * Program-new PSW target.  A probe armed LC_RECOVER: record the check,
 * then resume at the recovery address in supervisor state (the check may
 * have come from problem state) with the interrupted code's registers.
 * Nothing armed: the check is a bug in the program or in QEMU, let C
 * report it on the CPU's emergency stack.
 */
	.globl	pgm_handler
pgm_handler:
	stmg	%r0, %r15, LC_SAVE
	mvc	LC_REC_ILC(4), LC_PGM_ILC
	mvc	LC_REC_TEC(8), LC_TEC
	mvc	LC_REC_ADDR(8), LC_PGM_OLD_PSW + 8
	mvc	LC_REC_MASK(8), LC_PGM_OLD_PSW
	lg	%r1, LC_RECOVER
	ltgr	%r1, %r1
	jz	.Lunexpected
	/* One shot: a check in the recovery path itself is unexpected. */
	mvghi	LC_RECOVER, 0
	stg	%r1, LC_PGM_OLD_PSW + 8
	larl	%r1, .Lkernel_mask
	mvc	LC_PGM_OLD_PSW(8), 0(%r1)
	lmg	%r0, %r15, LC_SAVE
	lpswe	LC_PGM_OLD_PSW
.Lunexpected:
	lg	%r15, LC_EMERG_SP
	brasl	%r14, pgm_unexpected
	j	.

/* Arm the recovery address and forget the previous check. */
	.macro	ARM rec, insn
	larl	%r1, \rec
	stg	%r1, LC_RECOVER
	larl	%r1, \insn
	stg	%r1, LC_INSN
	mvhi	LC_REC_ILC, 0
	/* A stale TEC must not pass for the right one. */
	mvghi	LC_TEC, -1
	.endm

/*
 * unsigned int essa_try(unsigned long addr, unsigned int m3,
 *			 unsigned long *state)
 * M3 is part of the instruction, so there is one ESSA per value.
 */
	.globl	essa_try
essa_try:
	lgr	%r5, %r4
	llgfr	%r3, %r3
	nill	%r3, 15
	sllg	%r3, %r3, 3
	larl	%r1, .Lessa_table
	lg	%r1, 0(%r3, %r1)
	br	%r1

	.macro	ESSA_STUB m3
.Lessa\m3:
	ARM	.Lessa_check, .Lessa_insn\m3
	/* Low byte 0xff is no state: shows whether ESSA wrote R1. */
	lghi	%r4, -1
.Lessa_insn\m3:
	.long	ESSA_R4_R2(\m3)
	j	.Lessa_done
	.endm

	ESSA_STUB 0
	ESSA_STUB 1
	ESSA_STUB 2
	ESSA_STUB 3
	ESSA_STUB 4
	ESSA_STUB 5
	ESSA_STUB 6
	ESSA_STUB 7
	ESSA_STUB 8
	ESSA_STUB 9
	ESSA_STUB 10
	ESSA_STUB 11
	ESSA_STUB 12
	ESSA_STUB 13
	ESSA_STUB 14
	ESSA_STUB 15

.Lessa_done:
	mvghi	LC_RECOVER, 0
	stg	%r4, 0(%r5)
	lghi	%r2, 0
	br	%r14
.Lessa_check:
	llgh	%r2, LC_REC_CODE
	br	%r14

/* unsigned int essa_try_problem_state(unsigned long addr): GET_STATE */
	.globl	essa_try_problem_state
essa_try_problem_state:
	ARM	.Lprob_check, .Lprob_insn
	larl	%r1, .Lproblem_mask
	mvc	LC_TMP_PSW(8), 0(%r1)
	larl	%r1, .Lprob_insn
	stg	%r1, LC_TMP_PSW + 8
	lpswe	LC_TMP_PSW
.Lprob_insn:
	.long	ESSA_R4_R2(0)
	/*
	 * ESSA must not complete in problem state; if it does, leave problem
	 * state through the operation exception of an invalid opcode.
	 */
	.short	0
.Lprob_check:
	llgh	%r2, LC_REC_CODE
	br	%r14

/* unsigned int probe_load(unsigned long addr, unsigned long *val) */
	.globl	probe_load
probe_load:
	ARM	.Lload_check, .Lload_insn
.Lload_insn:
	lg	%r4, 0(%r2)
	mvghi	LC_RECOVER, 0
	stg	%r4, 0(%r3)
	lghi	%r2, 0
	br	%r14
.Lload_check:
	llgh	%r2, LC_REC_CODE
	br	%r14

/* unsigned int probe_store(unsigned long addr, unsigned long val) */
	.globl	probe_store
probe_store:
	ARM	.Lstore_check, .Lstore_insn
.Lstore_insn:
	stg	%r3, 0(%r2)
	mvghi	LC_RECOVER, 0
	lghi	%r2, 0
	br	%r14
.Lstore_check:
	llgh	%r2, LC_REC_CODE
	br	%r14

/*
 * void copy_8k(unsigned long dst, unsigned long src): in assembler because
 * src or dst may be real address 0, which C takes for a null pointer.
 */
	.globl	copy_8k
copy_8k:
	lghi	%r1, 32
.Lcopy:
	mvc	0(256, %r2), 0(%r3)
	la	%r2, 256(%r2)
	la	%r3, 256(%r3)
	brctg	%r1, .Lcopy
	br	%r14

/*
 * void disabled_wait(unsigned long addr): stop this CPU.  Once every CPU
 * waits, QEMU shuts down for the address 0xfff (quiesce) and reports a
 * guest crash for any other.
 */
	.globl	disabled_wait
disabled_wait:
	larl	%r1, .Lwait_mask
	mvc	LC_TMP_PSW(8), 0(%r1)
	stg	%r2, LC_TMP_PSW + 8
	lpswe	LC_TMP_PSW
	j	disabled_wait

	.section .rodata
	.balign	8
.Lessa_table:
	.quad	.Lessa0, .Lessa1, .Lessa2, .Lessa3
	.quad	.Lessa4, .Lessa5, .Lessa6, .Lessa7
	.quad	.Lessa8, .Lessa9, .Lessa10, .Lessa11
	.quad	.Lessa12, .Lessa13, .Lessa14, .Lessa15
.Lkernel_mask:
	.quad	PSW_MASK_KERNEL
.Lproblem_mask:
	.quad	PSW_MASK_PROBLEM
.Lwait_mask:
	.quad	PSW_MASK_WAIT

	.section .bss
	.balign	4096
	.globl	stack0, stack1
stack0:
	.skip	STACK_SIZE
stack1:
	.skip	STACK_SIZE
