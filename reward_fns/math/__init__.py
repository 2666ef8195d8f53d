"""Math grader package (see :mod:`reward_fns.math.grader`)."""
