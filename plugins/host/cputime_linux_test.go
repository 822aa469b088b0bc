package host

const rusageThread = 1 // RUSAGE_THREAD
