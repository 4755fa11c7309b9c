using BenchmarkDotNet.Running;

// Run with: dotnet run -c Release --project bench/Detach.Bench -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
