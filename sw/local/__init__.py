"""Local learning without backprop: tpSGD, DRTP, DFA, sDFA and shallow rules on MLP, TT, CNN and
RNN front ends, in float and fixed point."""
