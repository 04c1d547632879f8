"""`pintsize ablate`: the same model trained on differently curated versions of the same raw data.
`run` drives the experiment; `config` is its recipe section, `split` the held-out documents,
`variants` the curations compared, `eval` and `cloze` the scores, `report` the table and plot."""
