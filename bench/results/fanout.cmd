bin/rollcall bench fanout --channels 100 --subscribers 100 --publishers 100 --payload 100 --rates 100,200,300,400,500,600,800,1000 --duration 5s --runs 3 --comparator bin/centrifuge-bench --pin
