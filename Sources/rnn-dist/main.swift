import MPI
let world = Communicator.world
print("rank \(world.rank) of \(world.size)")
