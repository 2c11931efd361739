"""Login, logout, first-start setup and password change (see :mod:`firmware.auth`).

These are the only API routes that answer without a session (besides ``/api/session``, which
says whether there is one); logout and the password change need the session and its CSRF token
like every other route.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from firmware.api.deps import SecurityDep, SessionDep, password_hash_turn
from firmware.auth.passwords import PASSWORD_MAX_CHARS, PASSWORD_MIN_CHARS, check_new_password
from firmware.auth.security import Security
from firmware.auth.sessions import COOKIE_NAME, LIFETIME_S, Session, describe_device
from firmware.auth.setup import BUTTON_HOLD_S

#: On the routes that hash a password: they queue for it outside the thread pool, and let
#: the next one go when the route returns, not when a slow client has read the answer.
IN_TURN = Depends(password_hash_turn, scope="function")

router = APIRouter(tags=["login"])

NewPassword = Annotated[
    str,
    Field(min_length=PASSWORD_MIN_CHARS, max_length=PASSWORD_MAX_CHARS,
          description="8 to 1024 characters, no control characters"),
    AfterValidator(check_new_password),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class LoginRequest(_Strict):
    password: str = Field(max_length=PASSWORD_MAX_CHARS)


class LoginAnswer(BaseModel):
    """Send ``csrf_token`` as the ``X-CSRF-Token`` header with every state-changing request."""

    csrf_token: str
    expires_in_s: int


class SessionInfo(BaseModel):
    authenticated: bool
    password_set: bool
    csrf_token: str | None = None
    expires_in_s: int | None = None


class SetupState(BaseModel):
    password_set: bool
    setup_code_in_log: bool
    button: str = Field(description="unavailable, idle, waiting or pressed")
    button_hold_s: float


class SetupRequest(_Strict):
    """The first password, with the setup code from the log or a confirmed button claim."""

    password: NewPassword
    setup_code: str | None = Field(None, max_length=64)
    button_claim: str | None = Field(None, max_length=64)


class ButtonClaim(BaseModel):
    claim: str
    expires_in_s: float
    hold_s: float


class PasswordChange(_Strict):
    current_password: str = Field(max_length=PASSWORD_MAX_CHARS)
    new_password: NewPassword


class PasswordChanged(BaseModel):
    other_sessions_ended: int


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


def _device(request: Request) -> str:
    return describe_device(request.headers.get("user-agent"))


def _start_session(request: Request, response: Response, security: Security,
                   token: str, session: Session) -> LoginAnswer:
    response.set_cookie(
        COOKIE_NAME, token, max_age=LIFETIME_S, path="/", httponly=True, samesite="strict",
        secure=request.url.scheme == "https",
    )
    response.headers["Cache-Control"] = "no-store"
    return LoginAnswer(csrf_token=session.csrf_token,
                       expires_in_s=int(security.expires_in_s(session)))


@router.get("/session")
def get_session_info(request: Request, response: Response, security: SecurityDep) -> SessionInfo:
    """Whether this browser is logged in (and its CSRF token, after a page reload: never
    kept in a cache)."""
    response.headers["Cache-Control"] = "no-store"
    session = security.session_for(request.cookies.get(COOKIE_NAME))
    if session is None:
        return SessionInfo(authenticated=False, password_set=security.password_set)
    return SessionInfo(authenticated=True, password_set=True, csrf_token=session.csrf_token,
                       expires_in_s=int(security.expires_in_s(session)))


@router.post("/login", responses={401: {}, 409: {}, 429: {}},
             dependencies=[IN_TURN])
def login(body: LoginRequest, request: Request, response: Response,
          security: SecurityDep) -> LoginAnswer:
    """Log in; sets the session cookie (HttpOnly, SameSite=Strict) and returns the CSRF token.
    Five wrong passwords a minute from one client answer 429 until the minute is over."""
    token, session = security.login(body.password, _client(request), device=_device(request))
    return _start_session(request, response, security, token, session)


@router.post("/logout", status_code=204)
def logout(response: Response, session: SessionDep, security: SecurityDep) -> None:
    security.logout(session)
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict")


@router.get("/setup")
def get_setup(security: SecurityDep) -> SetupState:
    """What the setup page offers: the code from the log and/or the shutter button."""
    return SetupState(
        password_set=security.password_set,
        setup_code_in_log=security.setup_code.active,
        button=security.button.status(),
        button_hold_s=BUTTON_HOLD_S,
    )


@router.post("/setup", status_code=201, responses={403: {}, 409: {}, 429: {}},
             dependencies=[IN_TURN])
def setup(body: SetupRequest, request: Request, response: Response,
          security: SecurityDep) -> LoginAnswer:
    """Set the first password (only while none is set) and log in."""
    token, session = security.setup(body.password, _client(request), device=_device(request),
                                    setup_code=body.setup_code, button_claim=body.button_claim)
    return _start_session(request, response, security, token, session)


@router.post("/setup/button", responses={404: {}, 409: {}})
def arm_setup_button(security: SecurityDep) -> ButtonClaim:
    """Wait for a 3-second press of the shutter button; poll ``GET /api/setup`` until
    ``button`` is ``pressed``, then ``POST /api/setup`` with the claim."""
    if security.password_set:
        raise HTTPException(409, "a password is already set; log in instead")
    if not security.button.available:
        raise HTTPException(404, "this camera has no shutter button; use the setup code")
    claim, window = security.button.arm()
    return ButtonClaim(claim=claim, expires_in_s=window, hold_s=BUTTON_HOLD_S)


class ClaimQuery(_Strict):
    claim: str = Field(max_length=64)


class ClaimState(BaseModel):
    state: str = Field(description="waiting, pressed or ended (expired, used or not yours)")


@router.post("/setup/button/status")
def setup_button_status(body: ClaimQuery, security: SecurityDep) -> ClaimState:
    """The state of this page's own claim (``GET /api/setup`` says the camera's state)."""
    return ClaimState(state=security.button.claim_status(body.claim))


@router.post("/password", responses={403: {}, 429: {}},
             dependencies=[IN_TURN])
def change_password(body: PasswordChange, request: Request, session: SessionDep,
                    security: SecurityDep) -> PasswordChanged:
    """Change the password; every other session (other phones, old tabs) is logged out."""
    ended = security.change_password(session, body.current_password, body.new_password,
                                     _client(request))
    return PasswordChanged(other_sessions_ended=ended)


class SessionEntry(BaseModel):
    id: str = Field(description="What DELETE /api/sessions/{id} takes")
    this_device: bool = Field(description="The session this request came with")
    device: str = Field(description='What logged in, in words: "Chrome on Android"')
    client: str = Field(description="The address it logged in from")
    logged_in_unix: float
    last_used_unix: float
    expires_in_s: int


@router.get("/sessions")
def list_sessions(session: SessionDep, security: SecurityDep) -> list[SessionEntry]:
    """Every device logged in to the camera, the one asking first."""
    entries = [
        SessionEntry(
            id=s.public_id, this_device=s.key == session.key, device=s.device or "a browser",
            client=s.client, logged_in_unix=round(security.sessions.wall_time(s.created_s), 3),
            last_used_unix=round(security.sessions.wall_time(s.last_seen_s), 3),
            expires_in_s=int(left),
        )
        for s, left in security.sessions.live(security.passwords.fingerprint())
    ]
    entries.sort(key=lambda e: not e.this_device)
    return entries


@router.delete("/sessions/{session_id}", status_code=204, responses={404: {}})
def end_session(session_id: str, response: Response, session: SessionDep,
                security: SecurityDep) -> None:
    """Log a device out (this one too: then it is a logout)."""
    ended = security.sessions.by_public_id(session_id[:64])
    if ended is None:
        raise HTTPException(404, "no such session (it may have ended already)")
    security.sessions.end(ended)
    if ended.key == session.key:
        response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict")
