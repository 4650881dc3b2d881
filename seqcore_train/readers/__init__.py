"""One module per dataset format; each turns a DATA path into `Record`s and a record into masks.

Readers import only `seqcore_train.data.records` (and each other where a format builds on another);
`seqcore_train.data.datasets` chooses among them.
"""
