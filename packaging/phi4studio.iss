; Inno Setup script: the Windows installer of Phi-4 Studio (per-user, no admin rights).
;
;   iscc /DAppVersion=0.1.0 /DFlavour=directml /DSourceDir=..\dist\phi4studio /O..\dist phi4studio.iss
;
; packaging/build.py runs this when `iscc` (Inno Setup 6) is on PATH. Optional:
;   /DPythonInstaller=C:\path\python-3.11.9-amd64.exe
; carries the python.org installer and installs that Python per-user into {app}\python, where
; the app finds it to build the training runtime (no Python on the machine needed). Without it,
; the app uses a Python 3.10+ the user has (py launcher, PATH) or asks for one.
;
; Installs into %LOCALAPPDATA%\Programs\Phi-4 Studio, adds a Start-menu entry (and optionally a
; desktop icon) and an uninstaller in Apps & features. Uninstalling keeps the user's workspace
; and settings; it offers to delete the training runtime (several GB) too.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#ifndef Flavour
  #define Flavour "cpu"
#endif
#ifndef SourceDir
  #define SourceDir "..\dist\phi4studio"
#endif

[Setup]
AppId={{6C1B2F0E-4E8B-4B7A-9C3E-2D5F8A1E4B90}
AppName=Phi-4 Studio
AppVersion={#AppVersion}
AppVerName=Phi-4 Studio {#AppVersion} ({#Flavour})
AppPublisher=Phi-4 Studio
DefaultDirName={autopf}\Phi-4 Studio
DefaultGroupName=Phi-4 Studio
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputBaseFilename=phi4studio-{#AppVersion}-windows-x64-{#Flavour}-setup
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
UninstallDisplayIcon={app}\phi4studio.exe
UninstallDisplayName=Phi-4 Studio ({#Flavour})
CloseApplications=yes

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs
#ifdef PythonInstaller
Source: "{#PythonInstaller}"; DestDir: "{app}\python-setup"; DestName: "python-installer.exe"; Flags: ignoreversion
#endif

[Icons]
Name: "{autoprograms}\Phi-4 Studio"; Filename: "{app}\phi4studio.exe"; WorkingDir: "{app}"
Name: "{autodesktop}\Phi-4 Studio"; Filename: "{app}\phi4studio.exe"; WorkingDir: "{app}"; Tasks: desktopicon

[Run]
#ifdef PythonInstaller
Filename: "{app}\python-setup\python-installer.exe"; \
  Parameters: "/quiet InstallAllUsers=0 TargetDir=""{app}\python"" Include_launcher=0 Include_test=0 Include_doc=0 Include_tcltk=0 Shortcuts=0 AssociateFiles=0 PrependPath=0"; \
  StatusMsg: "Installing Python for the training runtime..."; Flags: waituntilterminated
#endif
Filename: "{app}\phi4studio.exe"; Description: "{cm:LaunchProgram,Phi-4 Studio}"; Flags: nowait postinstall skipifsilent

[UninstallRun]
#ifdef PythonInstaller
Filename: "{app}\python-setup\python-installer.exe"; Parameters: "/quiet /uninstall"; RunOnceId: "RemovePython"; Flags: waituntilterminated
#endif

[UninstallDelete]
Type: filesandordirs; Name: "{app}"

[Code]
procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
var
  Runtime: String;
begin
  if CurUninstallStep = usPostUninstall then
  begin
    Runtime := ExpandConstant('{localappdata}\phi4studio\training-runtime');
    if DirExists(Runtime) then
      if MsgBox('Also delete the training runtime (' + Runtime + ', several GB)?' + #13#10 +
                'Your workspace and settings are kept either way.',
                mbConfirmation, MB_YESNO or MB_DEFBUTTON2) = IDYES then
        DelTree(Runtime, True, True, True);
  end;
end;
