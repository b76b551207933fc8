"""Internal RPC between services, with a service identity instead of caller-supplied roles.

The calling service declares what it may ask of others; every call carries a short-lived token naming it
(``service:<name>``) with those permissions (:func:`agora.auth.service_token`) in nameko's context data::

    class BridgeService:
        ideas = ServiceRpc("ideas", permissions=["ideas.change_status"])
        ...
        self.ideas.change_status_from_decision(tenant, idea_id, ...)

    class IdeasService:
        @internal_rpc("ideas.change_status")
        def change_status_from_decision(self, caller, tenant, idea_id, ...):   # caller: the service Principal

A call without a valid service token, or without the permission, raises :class:`agora.errors.Forbidden` (401 for
a bad token) on the caller's side. People never reach RPC: their tokens are refused here.
"""
from __future__ import annotations

import functools
import inspect

from nameko.extensions import DependencyProvider
from nameko.rpc import RpcProxy, rpc

from agora import auth

CONTEXT_KEY = "agora_service_token"


class ServiceRpc(RpcProxy):
    """An RpcProxy to ``target`` whose calls carry this service's identity and ``permissions``."""

    def __init__(self, target_service: str, permissions=(), **options):
        super().__init__(target_service, **options)
        self.permissions = tuple(permissions)

    def get_dependency(self, worker_ctx):
        # context_data is a copy (nameko builds it per access): the headers are made from worker_ctx.data
        worker_ctx.data[CONTEXT_KEY] = auth.service_token(self.container.service_name, self.permissions)
        return super().get_dependency(worker_ctx)


class _CallerToken(DependencyProvider):
    """Hands an internal RPC entrypoint the service token its caller sent."""

    def get_dependency(self, worker_ctx):
        return (worker_ctx.context_data or {}).get(CONTEXT_KEY)


def internal_rpc(permission: str):
    """Decorator: a nameko ``@rpc`` method callable only by a service holding ``permission``; the method receives
    the verified caller as its first argument after ``self``."""
    def deco(fn):
        sig = inspect.signature(fn)
        params = list(sig.parameters.values())
        if len(params) < 2 or params[1].name != "caller":
            raise TypeError(f"{fn.__name__}: an internal_rpc method takes (self, caller, ...)")
        public_sig = sig.replace(parameters=[params[0], *params[2:]])

        @functools.wraps(fn)
        def wrapper(self, *args, **kwargs):
            token = getattr(self, "_agora_rpc_token", None)
            if not token:
                from agora.errors import Unauthorized
                raise Unauthorized("internal RPC needs a service identity (use agora.rpc.ServiceRpc)")
            caller = auth.authorize_service(auth.decode(token), permission)
            return fn(self, caller, *args, **kwargs)

        wrapper.__signature__ = public_sig
        wrapper.__agora_permission__ = permission
        return rpc(wrapper)
    return deco


class InternalRpcMixin:
    """Add to a service class that defines ``internal_rpc`` methods (provides the caller-token dependency)."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._agora_rpc_token = _CallerToken()
