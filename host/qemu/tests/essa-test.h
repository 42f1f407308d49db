/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared between essa-start.S and essa-test.c: where the program keeps its
 * per-CPU state in the lowcore, and the entry points of the assembler side.
 *
 * Every CPU reaches its own lowcore at real addresses 0-0x1fff (prefixing),
 * so the program-check handler and the probes below use fixed lowcore
 * offsets and work unchanged on both CPUs.  The architecture leaves
 * 0x200-0x11ff to the program; QEMU stores nothing there.
 */
#ifndef ESSA_TEST_H
#define ESSA_TEST_H

/* Architected lowcore fields. */
#define LC_PGM_ILC		0x08c	/* halfword: instruction length */
#define LC_PGM_CODE		0x08e	/* halfword: program interruption code */
#define LC_TEC			0x0a8	/* translation-exception identification */
#define LC_RESTART_NEW_PSW	0x1a0
#define LC_PGM_OLD_PSW		0x150
#define LC_PGM_NEW_PSW		0x1d0

/* The program's own per-CPU fields. */
#define LC_SAVE			0x200	/* r0-r15 of the interrupted code */
#define LC_RECOVER		0x280	/* resume here after a program check */
#define LC_REC_ILC		0x288	/* the check's ILC (halfword) ... */
#define LC_REC_CODE		0x28a	/* ... and code (halfword) */
#define LC_REC_TEC		0x290
#define LC_REC_ADDR		0x298	/* program-old PSW address */
#define LC_REC_MASK		0x2a0	/* program-old PSW mask */
#define LC_INSN			0x2a8	/* address of the probed instruction */
#define LC_EMERG_SP		0x2b0	/* stack for an unexpected check */
#define LC_CPU			0x2b8	/* 0 or 1 */
#define LC_TMP_PSW		0x2c0	/* 16 bytes: PSW to enter problem state */

/* 64-bit addressing, DAT off, all interruptions disabled, supervisor. */
#define PSW_MASK_KERNEL		0x0000000180000000
#define PSW_MASK_PROBLEM	0x0001000180000000
#define PSW_MASK_WAIT		0x0002000180000000

#define STACK_SIZE		16384

#ifndef __ASSEMBLER__

#define __noreturn		__attribute__((__noreturn__))

/*
 * Each probe executes one instruction with a recovery address armed: it
 * returns 0 when the instruction completed, or the program interruption
 * code it raised.  The handler records the check's details in the LC_REC_*
 * fields and LC_INSN holds the probed instruction's address.
 */
unsigned int essa_try(unsigned long addr, unsigned int m3,
		      unsigned long *state);
unsigned int essa_try_problem_state(unsigned long addr);
unsigned int probe_load(unsigned long addr, unsigned long *val);
unsigned int probe_store(unsigned long addr, unsigned long val);

void copy_8k(unsigned long dst, unsigned long src);
void pgm_handler(void);
void cpu1_entry(void);
void __noreturn disabled_wait(unsigned long addr);

/* Called from the assembler side. */
void __noreturn main0(void);
void __noreturn main1(void);
void __noreturn pgm_unexpected(void);

#endif /* __ASSEMBLER__ */
#endif /* ESSA_TEST_H */
