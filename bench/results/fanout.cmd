bin/rollcall bench fanout --channels 100 --subscribers 100 --publishers 100 --payload 100 --rates 500,1000,2000,4000 --duration 5s --comparator bin/centrifuge-bench --runs 1 --pin
