using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.MSBuild;

// The renames .editorconfig asks for that `dotnet format` cannot make (its IDE1006 fixer does not fix a whole
// solution): private fields to _camelCase (private constants and static readonly fields to PascalCase), and
// CancellationToken parameters named ct or token to cancellationToken. Every identifier is renamed by what it binds
// to (the semantic model), so a constructor parameter named like its field keeps its name.
// Usage: dotnet run --project scripts/style/StyleSweep -- Detach.sln
return await StyleSweep.RunAsync(args.Length > 0 ? args[0] : "Detach.sln");

internal static class StyleSweep
{
    private static readonly string[] ShortTokenNames = ["ct", "token"];

    public static async Task<int> RunAsync(string solutionPath)
    {
        using var workspace = MSBuildWorkspace.Create();
        var solution = await workspace.OpenSolutionAsync(solutionPath);
        var rewritten = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var project in solution.Projects)
        {
            var compilation = await project.GetCompilationAsync();
            if (compilation is null)
            {
                continue;
            }

            foreach (var document in project.Documents)
            {
                if (document.FilePath is not { } path || rewritten.ContainsKey(path) || path.Contains("/obj/", StringComparison.Ordinal))
                {
                    continue;
                }

                var tree = await document.GetSyntaxTreeAsync();
                if (tree is null)
                {
                    continue;
                }

                var model = compilation.GetSemanticModel(tree);
                var root = await tree.GetRootAsync();
                var renamed = new Renamer(model).Visit(root);
                var text = renamed.ToFullString();
                if (text != root.ToFullString())
                {
                    rewritten[path] = text;
                }
            }
        }

        foreach (var (path, text) in rewritten)
        {
            await File.WriteAllTextAsync(path, text);
            Console.WriteLine(Path.GetRelativePath(Environment.CurrentDirectory, path));
        }

        Console.WriteLine($"{rewritten.Count} files rewritten.");
        return 0;
    }

    /// <summary>The new name of a symbol the style renames, or null.</summary>
    public static string? NewName(ISymbol? symbol)
    {
        switch (symbol)
        {
            case IParameterSymbol parameter when IsShortTokenParameter(parameter):
                return "cancellationToken";
            case IFieldSymbol field when field.DeclaredAccessibility == Accessibility.Private && !field.IsImplicitlyDeclared
                && field.ContainingType.TypeKind != TypeKind.Enum:
                var pascal = field.IsConst || (field.IsStatic && field.IsReadOnly);
                var bare = field.Name.TrimStart('_');
                if (bare.Length == 0)
                {
                    return null;
                }

                var wanted = pascal ? char.ToUpperInvariant(bare[0]) + bare[1..] : "_" + char.ToLowerInvariant(bare[0]) + bare[1..];
                return wanted == field.Name ? null : wanted;
            default:
                return null;
        }
    }

    private static bool IsShortTokenParameter(IParameterSymbol parameter) =>
        ShortTokenNames.Contains(parameter.Name)
        && parameter.Type.ToDisplayString() == "System.Threading.CancellationToken"
        && parameter.ContainingSymbol is IMethodSymbol;

    private sealed class Renamer(SemanticModel model) : CSharpSyntaxRewriter(visitIntoStructuredTrivia: true)
    {
        public override SyntaxToken VisitToken(SyntaxToken token)
        {
            if (token.IsKind(SyntaxKind.IdentifierToken) && token.Parent is { } parent)
            {
                var symbol = parent switch
                {
                    VariableDeclaratorSyntax or ParameterSyntax => model.GetDeclaredSymbol(parent),
                    IdentifierNameSyntax name => model.GetSymbolInfo(name).Symbol,
                    _ => null,
                };
                if (NewName(symbol) is { } newName && token.ValueText != newName)
                {
                    return SyntaxFactory.Identifier(token.LeadingTrivia, newName, token.TrailingTrivia);
                }
            }

            return base.VisitToken(token);
        }
    }
}
