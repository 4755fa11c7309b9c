using BenchmarkDotNet.Running;
using Detach.Bench;

// Run with: dotnet run -c Release --project bench/Detach.Bench -- --filter '*'
// CPU per MiB detached, by stage: dotnet run -c Release --project bench/Detach.Bench -- --stages
if (args.Contains("--stages"))
{
    return await StageCosts.RunAsync(args);
}

BenchmarkSwitcher.FromAssembly(typeof(StageCosts).Assembly).Run(args);
return 0;
