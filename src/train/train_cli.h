/*
 * train_cli.h -- `lmz train`: the trainer's command line (train_cli.c has the options).
 */
#ifndef LMZ_TRAIN_CLI_H
#define LMZ_TRAIN_CLI_H

/* argv[0] is the command name ("train"); options follow.  Progress goes to stderr.
 * Returns the process exit status (0 ok, 1 error, 2 usage). */
int lmz_train_main(int argc, char **argv);

/* `lmz --train`: a LoRA adapter (lora_cli.c). */
int lmz_lora_train_main(int argc, char **argv);

#endif
