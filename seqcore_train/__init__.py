"""SeqCore training toolkit: Sequential PatchCore coresets, calibration and evaluation."""
