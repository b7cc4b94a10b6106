//! # weft-sdk-macros: the `#[contract]` attribute of the Weft contract SDK
//!
//! Use it through `weft_sdk::contract`; this crate's paths are not a public interface. The
//! attribute turns a plain `impl` block into a contract: methods marked `#[transaction]` become
//! named transaction functions, a method marked `#[init]` becomes the contract's init, and the
//! Wasm exports are generated (see `weft_sdk::export_contract!`). Everything the generated code
//! calls lives in `weft_sdk::__private`, so the rules for arguments, payloads and errors are
//! written once, in the SDK, not in generated code.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote};
use syn::{
    FnArg, ImplItem, ImplItemFn, ItemImpl, LitStr, Pat, ReturnType, Type, parse_macro_input,
    spanned::Spanned,
};

/// Turns an `impl` block into a Weft contract.
///
/// * `#[transaction]` marks a transaction function. Its name as clients call it is the method
///   name in PascalCase (`create_asset` is `CreateAsset`); `#[transaction(name = "invoke")]`
///   sets it explicitly.
/// * `#[init]` marks at most one method that runs when the contract is instantiated.
/// * Every contract also answers the query `weft:describe` with its functions, their
///   arguments (name and type), return types and doc comments, as JSON (`weft contract
///   describe`); names beginning with `weft:` are reserved.
/// * `#[before]` marks at most one method that runs before every transaction function (not
///   before init nor for an unknown function), like Fabric contractapi's `BeforeTransaction`:
///   it takes `&self` and the context only and returns `Result<(), E>`; an `Err` becomes the
///   error response and the transaction function does not run.
///
/// Each marked method takes `&self`, then the transaction context (`&Context` or
/// `&mut Context`), then its arguments. Arguments arrive as bytes: `String`, integers, `bool`
/// and `Vec<u8>` are taken as they are (numbers parsed from decimal text); any other type is
/// parsed as JSON. The return value becomes the response payload the same way (strings and
/// numbers as text, `()` as an empty payload, other types as JSON). A method returning
/// `Result<T, E>` with `E: Into<ContractError>` turns `Err` into an error response.
#[proc_macro_attribute]
pub fn contract(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        return syn::Error::new(Span::call_site(), "#[contract] takes no arguments")
            .to_compile_error()
            .into();
    }
    let item = parse_macro_input!(item as ItemImpl);
    match expand(item) {
        Ok(tokens) => tokens.into(),
        Err(err) => err.to_compile_error().into(),
    }
}

/// What a marker attribute on a method said.
enum Role {
    Init,
    Before,
    Transaction(String),
}

struct Entry {
    role: Role,
    method: syn::Ident,
    args: Vec<(String, Type)>,
    returns_result: bool,
    /// The return type as source text (`()` when there is none).
    returns: String,
    doc: String,
}

/// The function a contract answers with its own description (see [`metadata`]); no
/// transaction function may take a name in the `weft:` space.
const DESCRIBE: &str = "weft:describe";

fn expand(mut item: ItemImpl) -> syn::Result<TokenStream2> {
    if let Some(trait_) = &item.trait_ {
        return Err(syn::Error::new(
            trait_.1.span(),
            "#[contract] goes on an inherent impl block, not a trait impl",
        ));
    }
    if !item.generics.params.is_empty() {
        return Err(syn::Error::new(item.generics.span(), "a contract type cannot be generic"));
    }
    let mut entries = Vec::new();
    for impl_item in &mut item.items {
        if let ImplItem::Fn(method) = impl_item
            && let Some(role) = take_role(method)?
        {
            entries.push(entry(role, method)?);
        }
    }

    let mut names = std::collections::BTreeSet::new();
    let mut init = None;
    let mut before = None;
    for entry in entries.iter().filter(|e| matches!(e.role, Role::Before)) {
        if before.is_some() {
            return Err(syn::Error::new(entry.method.span(), "more than one #[before]"));
        }
        if !entry.args.is_empty() {
            return Err(syn::Error::new(
                entry.method.span(),
                "a #[before] method takes `&self` and the context only",
            ));
        }
        let method = &entry.method;
        before = Some(quote! {
            if let ::std::result::Result::Err(err) = Self::#method(self, ctx) {
                return ::weft_sdk::__private::error_response(err);
            }
        });
    }
    let mut arms = Vec::new();
    for entry in &entries {
        match &entry.role {
            Role::Init => {
                if init.is_some() {
                    return Err(syn::Error::new(entry.method.span(), "more than one #[init]"));
                }
                init = Some(call(entry, "init"));
            }
            Role::Before => {}
            Role::Transaction(name) => {
                if name.starts_with("weft:") {
                    return Err(syn::Error::new(
                        entry.method.span(),
                        format!("`{name}`: names beginning with `weft:` are reserved"),
                    ));
                }
                if !names.insert(name.clone()) {
                    return Err(syn::Error::new(
                        entry.method.span(),
                        format!("two transaction functions are named `{name}`"),
                    ));
                }
                let body = call(entry, name);
                arms.push(quote! { #name => { #before #body } });
            }
        }
    }
    let init =
        init.unwrap_or_else(|| quote! { ::weft_sdk::Response::success(::std::vec::Vec::new()) });
    let metadata = metadata(&entries);
    let self_ty = &item.self_ty;

    Ok(quote! {
        #item

        impl ::weft_sdk::Contract for #self_ty {
            fn init(&self, ctx: &mut ::weft_sdk::Context) -> ::weft_sdk::Response {
                #[allow(unused_imports)]
                use ::weft_sdk::__private::{ParseJson as _, ParseRaw as _, PayloadJson as _, PayloadRaw as _};
                #init
            }

            fn invoke(&self, ctx: &mut ::weft_sdk::Context) -> ::weft_sdk::Response {
                #[allow(unused_imports)]
                use ::weft_sdk::__private::{ParseJson as _, ParseRaw as _, PayloadJson as _, PayloadRaw as _};
                let function = ::std::borrow::ToOwned::to_owned(ctx.function());
                match function.as_str() {
                    #(#arms)*
                    #DESCRIBE => ::weft_sdk::Response::success(#metadata.as_bytes().to_vec()),
                    _ => ::weft_sdk::__private::unknown_function(&function),
                }
            }
        }

        ::weft_sdk::export_contract!(#self_ty);
    })
}

/// Removes `#[init]` / `#[transaction(..)]` from a method and says which it was.
fn take_role(method: &mut ImplItemFn) -> syn::Result<Option<Role>> {
    let mut role = None;
    let mut kept = Vec::with_capacity(method.attrs.len());
    for attr in std::mem::take(&mut method.attrs) {
        let found = if attr.path().is_ident("init") {
            if !matches!(attr.meta, syn::Meta::Path(_)) {
                return Err(syn::Error::new(attr.span(), "#[init] takes no arguments"));
            }
            Role::Init
        } else if attr.path().is_ident("before") {
            if !matches!(attr.meta, syn::Meta::Path(_)) {
                return Err(syn::Error::new(attr.span(), "#[before] takes no arguments"));
            }
            Role::Before
        } else if attr.path().is_ident("transaction") {
            let mut name = pascal_case(&method.sig.ident.to_string());
            if let syn::Meta::List(_) = attr.meta {
                attr.parse_nested_meta(|meta| {
                    if meta.path.is_ident("name") {
                        let lit: LitStr = meta.value()?.parse()?;
                        if lit.value().is_empty() {
                            return Err(meta.error("a transaction name cannot be empty"));
                        }
                        name = lit.value();
                        Ok(())
                    } else {
                        Err(meta.error("expected `name = \"...\"`"))
                    }
                })?;
            }
            Role::Transaction(name)
        } else {
            kept.push(attr);
            continue;
        };
        if role.is_some() {
            return Err(syn::Error::new(method.sig.span(), "a method has at most one role"));
        }
        role = Some(found);
    }
    method.attrs = kept;
    Ok(role)
}

fn entry(role: Role, method: &ImplItemFn) -> syn::Result<Entry> {
    let sig = &method.sig;
    if sig.asyncness.is_some() || !sig.generics.params.is_empty() {
        return Err(syn::Error::new(sig.span(), "a transaction function is not async or generic"));
    }
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_none() => {}
        _ => {
            return Err(syn::Error::new(
                sig.span(),
                "a transaction function takes `&self` first, then the context",
            ));
        }
    }
    if !matches!(inputs.next(), Some(FnArg::Typed(_))) {
        return Err(syn::Error::new(
            sig.span(),
            "a transaction function takes the context (`ctx: &mut Context`) after `&self`",
        ));
    }
    let mut args = Vec::new();
    for (i, input) in inputs.enumerate() {
        let FnArg::Typed(pat_type) = input else { unreachable!("receiver is first") };
        let name = match &*pat_type.pat {
            Pat::Ident(ident) => ident.ident.to_string(),
            _ => format!("#{i}"),
        };
        args.push((name, (*pat_type.ty).clone()));
    }
    let returns_result = match &sig.output {
        ReturnType::Default => false,
        ReturnType::Type(_, ty) => match &**ty {
            Type::Path(path) => path.path.segments.last().is_some_and(|s| s.ident == "Result"),
            _ => false,
        },
    };
    let doc = method
        .attrs
        .iter()
        .filter_map(|attr| match &attr.meta {
            syn::Meta::NameValue(nv) if nv.path.is_ident("doc") => match &nv.value {
                syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(text), .. }) => {
                    Some(text.value().trim().to_string())
                }
                _ => None,
            },
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(" ");
    let returns = match &sig.output {
        ReturnType::Default => "()".to_string(),
        ReturnType::Type(_, ty) => type_text(ty),
    };
    Ok(Entry { role, method: sig.ident.clone(), args, returns_result, returns, doc })
}

/// The body that checks the argument count, parses each argument, calls the method and turns
/// its return value into a response.
fn call(entry: &Entry, name: &str) -> TokenStream2 {
    let count = entry.args.len();
    let method = &entry.method;
    let vars: Vec<_> = (0..count).map(|i| format_ident!("arg{}", i)).collect();
    let parses = entry.args.iter().zip(&vars).enumerate().map(|(i, ((arg_name, ty), var))| {
        quote! {
            let #var: #ty = match (&&::weft_sdk::__private::ArgTag::<#ty>::new()).parse_arg(&args[#i]) {
                ::std::result::Result::Ok(value) => value,
                ::std::result::Result::Err(err) => {
                    return ::weft_sdk::__private::bad_argument(#name, #i, #arg_name, &err);
                }
            };
        }
    });
    let respond = if entry.returns_result {
        quote! {
            match result {
                ::std::result::Result::Ok(value) => ::weft_sdk::__private::payload_response(
                    (&&::weft_sdk::__private::PayloadTag(&value)).to_payload(),
                ),
                ::std::result::Result::Err(err) => ::weft_sdk::__private::error_response(err),
            }
        }
    } else {
        quote! {
            ::weft_sdk::__private::payload_response(
                (&&::weft_sdk::__private::PayloadTag(&result)).to_payload(),
            )
        }
    };
    quote! {{
        let args = ctx.args();
        if args.len() != #count {
            return ::weft_sdk::__private::wrong_argument_count(#name, #count, args.len());
        }
        #(#parses)*
        let result = Self::#method(self, ctx, #(#vars),*);
        #respond
    }}
}

/// The contract's description as JSON, answered to [`DESCRIBE`] (Fabric contractapi's
/// metadata): `{"functions": [{"name", "args": [{"name", "type"}], "returns", "doc"}],
/// "init": {...} or null, "before": bool}`, functions in source order.
fn metadata(entries: &[Entry]) -> String {
    let describe = |name: &str, entry: &Entry| {
        let args: Vec<String> = entry
            .args
            .iter()
            .map(|(arg, ty)| {
                format!(r#"{{"name":{},"type":{}}}"#, json_string(arg), json_string(&type_text(ty)))
            })
            .collect();
        format!(
            r#"{{"name":{},"args":[{}],"returns":{},"doc":{}}}"#,
            json_string(name),
            args.join(","),
            json_string(&entry.returns),
            json_string(&entry.doc)
        )
    };
    let mut functions = Vec::new();
    let mut init = "null".to_string();
    let mut before = false;
    for entry in entries {
        match &entry.role {
            Role::Transaction(name) => functions.push(describe(name, entry)),
            Role::Init => init = describe("init", entry),
            Role::Before => before = true,
        }
    }
    format!(r#"{{"functions":[{}],"init":{init},"before":{before}}}"#, functions.join(","))
}

/// A type as source text, without the token spacing (`Vec<u8>`, not `Vec < u8 >`).
fn type_text(ty: &Type) -> String {
    let text = quote!(#ty).to_string();
    text.replace(" < ", "<")
        .replace("< ", "<")
        .replace(" >", ">")
        .replace(" ,", ",")
        .replace("& ", "&")
}

/// `text` as a JSON string literal.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `create_asset` -> `CreateAsset`.
fn pascal_case(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    for part in snake.split('_').filter(|p| !p.is_empty()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pascal_case_matches_fabric_sample_names() {
        assert_eq!(pascal_case("create_asset"), "CreateAsset");
        assert_eq!(pascal_case("init_ledger"), "InitLedger");
        assert_eq!(pascal_case("get_all_assets"), "GetAllAssets");
        assert_eq!(pascal_case("query"), "Query");
        assert_eq!(pascal_case("_private__name"), "PrivateName");
    }

    #[test]
    fn roles_are_taken_and_other_attributes_kept() {
        let mut method: ImplItemFn = syn::parse_quote! {
            #[doc = "x"]
            #[transaction(name = "invoke")]
            fn move_value(&self, ctx: &mut Context, a: String) {}
        };
        let Some(Role::Transaction(name)) = take_role(&mut method).unwrap() else { panic!() };
        assert_eq!(name, "invoke");
        assert_eq!(method.attrs.len(), 1);
        let e = entry(Role::Transaction(name), &method).unwrap();
        assert_eq!(e.args.len(), 1);
        assert!(!e.returns_result);
    }

    #[test]
    fn bad_shapes_are_compile_errors() {
        let item: ItemImpl = syn::parse_quote! {
            impl C {
                #[transaction] fn a(&self, ctx: &mut Context) {}
                #[transaction(name = "A")] fn b(&self, ctx: &mut Context) {}
            }
        };
        let err = expand(item).unwrap_err().to_string();
        assert!(err.contains("two transaction functions are named `A`"), "{err}");

        let item: ItemImpl = syn::parse_quote! {
            impl C { #[transaction(name = "weft:x")] fn a(&self, ctx: &mut Context) {} }
        };
        assert!(expand(item).unwrap_err().to_string().contains("are reserved"));
        let item: ItemImpl = syn::parse_quote! {
            impl C { #[before] fn a(&self, ctx: &mut Context, x: u8) {} }
        };
        assert!(expand(item).unwrap_err().to_string().contains("the context only"));

        let item: ItemImpl = syn::parse_quote! {
            impl C { #[transaction] fn a(ctx: &mut Context) {} }
        };
        assert!(expand(item).unwrap_err().to_string().contains("`&self` first"));

        let item: ItemImpl = syn::parse_quote! {
            impl C { #[transaction] fn a(&self) {} }
        };
        assert!(expand(item).unwrap_err().to_string().contains("takes the context"));
    }
}
